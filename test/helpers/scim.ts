import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { ADMIN_AUD, API, basic, testRegistry, type TestSts } from './sts.js';

/** The provisioning client an IdP is configured with (scope scim:provision alone) and a registry admin beside it. */
export const PROVISIONER = 'idp-provisioner';
export const PROVISIONER_SECRET = 'idp-provisioner-secret-0123456789abcdef';
export const REGISTRY_ADMIN = 'registry-admin';
export const REGISTRY_ADMIN_SECRET = 'registry-admin-secret-0123456789abcdef';

export const AGENT_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Agent';
export const EXT = 'urn:ietf:params:scim:schemas:extension:agent-sts:2.0:Agent';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const SCIM_JSON = 'application/scim+json';

export const scimRegistry = () => testRegistry({
  agents: [
    { id: PROVISIONER, owner: 'identity-team', secretHash: hashSecret(PROVISIONER_SECRET), audiences: { [ADMIN_AUD]: ['scim:provision'] } },
    { id: REGISTRY_ADMIN, owner: 'platform', secretHash: hashSecret(REGISTRY_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } },
  ],
});

export async function tokenOf(sts: TestSts, id: string, secret: string, resource: string, scope: string): Promise<string> {
  const res = await request(sts.app).post('/token').set('Authorization', basic(id, secret)).type('form').send({ grant_type: 'client_credentials', resource, scope });
  if (res.status !== 200) throw new Error(`token for ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export const provisionerToken = (sts: TestSts) => tokenOf(sts, PROVISIONER, PROVISIONER_SECRET, ADMIN_AUD, 'scim:provision');
export const registryAdminToken = (sts: TestSts) => tokenOf(sts, REGISTRY_ADMIN, REGISTRY_ADMIN_SECRET, ADMIN_AUD, ADMIN_SCOPES.join(' '));

/** A SCIM client as an IdP's provisioning engine is one: bearer token, application/scim+json bodies. */
export function scimClient(sts: TestSts, token: string) {
  const at = (path: string) => `/scim/v2${path}`;
  const auth = (r: request.Test) => r.set('Authorization', `Bearer ${token}`).set('Accept', SCIM_JSON);
  const body = (r: request.Test, b: unknown) => r.set('Content-Type', SCIM_JSON).send(JSON.stringify(b));
  return {
    get: (path: string) => auth(request(sts.app).get(at(path))),
    post: (path: string, b: unknown) => body(auth(request(sts.app).post(at(path))), b),
    put: (path: string, b: unknown) => body(auth(request(sts.app).put(at(path))), b),
    patch: (path: string, b: unknown) => body(auth(request(sts.app).patch(at(path))), b),
    delete: (path: string) => auth(request(sts.app).delete(at(path))),
  };
}
export type ScimClient = ReturnType<typeof scimClient>;

/** An agent as Okta's provisioning would POST it. */
export const newAgent = (externalId: string, more: Record<string, unknown> = {}) => ({
  schemas: [AGENT_SCHEMA, EXT], externalId, displayName: `Agent ${externalId}`, active: true, owners: [{ value: 'alice@example.com', type: 'User' }],
  description: 'provisioned', [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }] }, ...more,
});

/** A PATCH body of operations. */
export const patchOps = (...Operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations });

/** A client secret for a provisioned agent, the way its first credential is handed out: an admin rotates. */
export async function rotateSecret(sts: TestSts, adminToken: string, id: string): Promise<string> {
  const res = await request(sts.app).post(`/admin/agents/${id}/credentials`).set('Authorization', `Bearer ${adminToken}`).send({ type: 'secret', overlapSeconds: 0 });
  if (res.status !== 201) throw new Error(`rotate ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.client_secret as string;
}
