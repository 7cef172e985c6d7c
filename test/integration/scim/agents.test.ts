import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { ADMIN_AUD, API, OTHER_API, basic, introspect, startSts, type TestSts } from '../../helpers/sts.js';
import {
  AGENT_SCHEMA, EXT, PROVISIONER, SCIM_ERROR, newAgent, patchOps, provisionerToken, registryAdminToken, rotateSecret, scimClient, scimRegistry, tokenOf,
  type ScimClient,
} from '../../helpers/scim.js';

/**
 * /scim/v2 driven as Entra's and Okta's provisioning engines drive it, on the live registry over
 * real Redis: every change goes through the registry service, with its audit records, its
 * authority rule and its kills.
 */
describe('SCIM agent provisioning', () => {
  let sts: TestSts;
  let scim: ScimClient;
  let adminToken: string;
  const clockMs = Date.now();
  const clock = { nowMs: () => clockMs };

  beforeAll(async () => {
    sts = await startSts({ live: true, registry: scimRegistry(), clock });
    scim = scimClient(sts, await provisionerToken(sts));
    adminToken = await registryAdminToken(sts);
  });
  afterAll(async () => {
    await sts?.close();
  });

  const create = async (externalId: string, more: Record<string, unknown> = {}) => {
    const res = await scim.post('/Agents', newAgent(externalId, more));
    expect(res.status).toBe(201);
    return res.body as Record<string, unknown> & { id: string };
  };
  const storedAgent = async (id: string) => {
    const json = await sts.deps.liveRegistry!.store.get('agent', id);
    return json === undefined ? undefined : (JSON.parse(json) as Record<string, unknown>);
  };
  /** A live token of a provisioned agent: its first credential from an admin rotate. */
  const agentToken = async (id: string, scope = 'invoices:read') => tokenOf(sts, id, await rotateSecret(sts, adminToken, id), API, scope);

  describe('discovery', () => {
    it('ServiceProviderConfig says patch, filter, sort and etag, bulk not; bearer tokens', async () => {
      const res = await scim.get('/ServiceProviderConfig');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
      expect(res.body).toMatchObject({
        patch: { supported: true }, bulk: { supported: false }, filter: { supported: true, maxResults: 200 }, sort: { supported: true }, etag: { supported: true },
        authenticationSchemes: [{ type: 'oauthbearertoken' }],
      });
    });

    it('ResourceTypes names Agent at /Agents with our extension; Schemas declares both, from the registry table', async () => {
      const types = await scim.get('/ResourceTypes');
      expect(types.body.Resources).toEqual([expect.objectContaining({ id: 'Agent', endpoint: '/Agents', schema: AGENT_SCHEMA, schemaExtensions: [{ schema: EXT, required: false }] })]);
      const schemas = await scim.get('/Schemas');
      expect(schemas.body.totalResults).toBe(2);
      const ext = (await scim.get(`/Schemas/${EXT}`)).body as { attributes: { name: string; type: string }[] };
      expect(ext.attributes.map((a) => a.name).sort()).toEqual(['delegates', 'entitlements', 'grantTypes', 'jwks', 'maxDelegationDepth', 'maxTokenTtlSeconds', 'requireDpop']);
      const core = (await scim.get(`/Schemas/${AGENT_SCHEMA}`)).body as { attributes: { name: string; mutability: string }[] };
      expect(core.attributes.map((a) => a.name)).toEqual(['id', 'displayName', 'externalId', 'owners', 'description', 'active']);
      expect((await scim.get('/Schemas/urn:nope')).status).toBe(404);
    });
  });

  describe('authentication and error bodies', () => {
    it('no token: 401 as a SCIM error with the Bearer challenge; a token without scim:provision: 403', async () => {
      const none = await request(sts.app).get('/scim/v2/Agents');
      expect(none.status).toBe(401);
      expect(none.headers['content-type']).toMatch(/^application\/scim\+json/);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(none.body).toEqual({ schemas: [SCIM_ERROR], status: '401', detail: expect.any(String) });
      const readOnly = await tokenOf(sts, 'registry-admin', 'registry-admin-secret-0123456789abcdef', ADMIN_AUD, 'agents:read');
      const res = await scimClient(sts, readOnly).get('/Agents');
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ schemas: [SCIM_ERROR], status: '403' });
    });

    it('a body that is not JSON of SCIM: 415; a bad filter: 400 invalidFilter; an unknown attribute: 400 invalidSyntax; unknown path: 404', async () => {
      const token = await provisionerToken(sts);
      const form = await request(sts.app).post('/scim/v2/Agents').set('Authorization', `Bearer ${token}`).type('form').send({ a: 1 });
      expect(form.status).toBe(415);
      expect((await scim.get('/Agents?filter=displayName%20eq')).body).toMatchObject({ status: '400', scimType: 'invalidFilter' });
      const unknown = await scim.post('/Agents', newAgent('x-unknown', { nickName: 'x' }));
      expect(unknown.body).toMatchObject({ status: '400', scimType: 'invalidSyntax', detail: expect.stringContaining('nickname') });
      expect((await scim.get('/Users')).body).toMatchObject({ status: '404', scimType: 'noTarget' });
    });
  });

  describe('create, read, list', () => {
    it('POST creates a SCIM-managed agent: 201, Location, ETag = meta.version; the registry holds it with the provisioner as actor, no secret shown', async () => {
      const res = await scim.post('/Agents', newAgent('okta-001', { [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }], requireDpop: 'True', maxTokenTtlSeconds: 120 } }));
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
      const id = res.body.id as string;
      expect(res.headers.location).toBe(`http://sts.test/scim/v2/Agents/${id}`);
      expect(res.headers.etag).toBe(res.body.meta.version);
      expect(res.body).toEqual({
        schemas: [AGENT_SCHEMA, EXT], id, externalId: 'okta-001', displayName: 'Agent okta-001', owners: [{ value: 'alice@example.com' }], description: 'provisioned', active: true,
        [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }], maxTokenTtlSeconds: 120, maxDelegationDepth: 0, grantTypes: ['client_credentials'], delegates: [], requireDpop: true },
        meta: { resourceType: 'Agent', created: new Date(clockMs).toISOString(), lastModified: new Date(clockMs).toISOString(), location: res.headers.location, version: expect.stringMatching(/^W\/"/) },
      });
      expect(JSON.stringify(res.body)).not.toMatch(/secret/i);
      expect(await storedAgent(id)).toMatchObject({ id, source: 'scim', updatedBy: PROVISIONER, externalId: 'okta-001', disabled: false });
      expect(sts.events.events.filter((e) => e.type === 'agent.created' && e.agent === id)).toEqual([expect.objectContaining({ by: PROVISIONER })]);
      expect((await scim.get(`/Agents/${id}`)).body).toEqual(res.body);
    });

    it('an agent made by hand is not SCIM\'s: not listed, 404 to read, change or delete', async () => {
      const list = await scim.get('/Agents?count=200');
      expect(list.body.Resources.map((r: { id: string }) => r.id)).not.toContain('billing-agent');
      expect((await scim.get('/Agents/billing-agent')).status).toBe(404);
      expect((await scim.patch('/Agents/billing-agent', patchOps({ op: 'replace', path: 'active', value: false }))).status).toBe(404);
      expect((await scim.delete('/Agents/billing-agent')).status).toBe(404);
      expect(await storedAgent('billing-agent')).toMatchObject({ disabled: false });
    });

    it('filters as IdPs send them: externalId eq, co and sw (displayName case-insensitive), pr, and/or, extension paths; paging and sortBy', async () => {
      const a = await create('entra-aaa', { displayName: 'Zeta Reporter' });
      const b = await create('entra-bbb', { displayName: 'alpha reporter', description: undefined });
      const c = await create('entra-ccc', { displayName: 'Mid Bot', [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }], requireDpop: true } });
      const ids = async (q: string) => ((await scim.get(`/Agents?${q}`)).body.Resources as { id: string }[]).map((r) => r.id);
      const f = (filter: string) => ids(`filter=${encodeURIComponent(filter)}`);
      expect(await f('externalId eq "entra-aaa"')).toEqual([a.id]);
      expect(await f('externalId eq "ENTRA-AAA"')).toEqual([]);
      expect((await f('displayName co "REPORTER"')).sort()).toEqual([a.id, b.id].sort());
      expect(await f('displayName sw "alpha"')).toEqual([b.id]);
      expect(await f('externalId sw "entra-" and description pr')).toEqual(expect.arrayContaining([a.id, c.id]));
      expect(await f('externalId sw "entra-" and not (description pr)')).toEqual([b.id]);
      expect((await f('externalId eq "entra-aaa" or externalId eq "entra-ccc"')).sort()).toEqual([a.id, c.id].sort());
      expect(await f(`externalId sw "entra-" and ${EXT}:requireDpop eq true`)).toEqual([c.id]);
      expect(await ids(`filter=${encodeURIComponent('externalId sw "entra-"')}&sortBy=displayName`)).toEqual([b.id, c.id, a.id]);
      expect(await ids(`filter=${encodeURIComponent('externalId sw "entra-"')}&sortBy=displayName&sortOrder=descending`)).toEqual([a.id, c.id, b.id]);
      const page = await scim.get(`/Agents?filter=${encodeURIComponent('externalId sw "entra-"')}&sortBy=externalId&startIndex=2&count=1`);
      expect(page.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1, Resources: [{ id: b.id }] });
      const capped = await scim.get('/Agents?count=5000');
      expect(capped.status).toBe(200);
      expect(capped.body.itemsPerPage).toBeLessThanOrEqual(200);
    });
  });

  describe('changes', () => {
    it('Entra\'s PATCH {"op":"Replace","path":"active","value":"False"} is the admin disable: every session dead; re-activation brings none back', async () => {
      const { id } = await create('entra-kill');
      const token = await agentToken(id);
      expect((await introspect(sts, token)).body.active).toBe(true);
      const n = sts.events.events.length;
      const off = await scim.patch(`/Agents/${id}`, patchOps({ op: 'Replace', path: 'active', value: 'False' }));
      expect(off.status).toBe(200);
      expect(off.body.active).toBe(false);
      expect((await introspect(sts, token)).body).toEqual({ active: false });
      expect(await storedAgent(id)).toMatchObject({ disabled: true, updatedBy: PROVISIONER });
      const records = sts.events.events.slice(n);
      expect(records.map((e) => e.type)).toEqual(expect.arrayContaining(['registry.change_requested', 'agent.disabled']));
      expect(records.find((e) => e.type === 'agent.disabled')).toMatchObject({ agent: id, by: PROVISIONER, revoked: 1 });

      // Okta's shape: a path-less replace
      const on = await scim.patch(`/Agents/${id}`, patchOps({ op: 'replace', value: { active: true } }));
      expect(on.status).toBe(200);
      expect(on.body.active).toBe(true);
      expect((await introspect(sts, token)).body).toEqual({ active: false });
      expect((await introspect(sts, await agentToken(id))).body.active).toBe(true);
    });

    it('PATCH with value filters: remove one entitlement by its target URI (its sessions die), add a delegate, set an extension path', async () => {
      await request(sts.app).patch('/admin/agents/billing-agent').set('Authorization', `Bearer ${adminToken}`).send({});
      const { id } = await create('entra-narrow', { [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }, { target: OTHER_API, scopes: ['reports:read'] }] } });
      const secret = await rotateSecret(sts, adminToken, id);
      const onApi = await tokenOf(sts, id, secret, API, 'invoices:read');
      const onOther = await tokenOf(sts, id, secret, OTHER_API, 'reports:read');
      const res = await scim.patch(`/Agents/${id}`, patchOps(
        { op: 'Remove', path: `${EXT}:entitlements[target eq "${OTHER_API}"]` },
        { op: 'Add', path: `${EXT}:delegates`, value: [{ value: 'sub-agent' }] },
        { op: 'replace', path: `${EXT}:maxTokenTtlSeconds`, value: 60 },
        { op: 'replace', path: `${AGENT_SCHEMA}:displayName`, value: 'Renamed' },
      ));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ displayName: 'Renamed', [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }], delegates: [{ value: 'sub-agent' }], maxTokenTtlSeconds: 60 } });
      expect((await introspect(sts, onOther, OTHER_API)).body).toEqual({ active: false });
      expect((await introspect(sts, onApi)).body.active).toBe(true);
      const removed = await scim.patch(`/Agents/${id}`, patchOps({ op: 'remove', path: `${EXT}:delegates[value eq "sub-agent"]` }));
      expect(removed.body[EXT].delegates).toEqual([]);
    });

    it('If-Match: the current version passes, an old one is 412 and changes nothing', async () => {
      const created = await create('okta-etag');
      const v1 = created.meta as { version: string };
      const ok = await scim.patch(`/Agents/${created.id}`, patchOps({ op: 'replace', path: 'description', value: 'v2' })).set('If-Match', v1.version);
      expect(ok.status).toBe(200);
      expect(ok.headers.etag).not.toBe(v1.version);
      const stale = await scim.patch(`/Agents/${created.id}`, patchOps({ op: 'replace', path: 'active', value: false })).set('If-Match', v1.version);
      expect(stale.status).toBe(412);
      expect(stale.body).toMatchObject({ schemas: [SCIM_ERROR], status: '412' });
      expect(await storedAgent(created.id)).toMatchObject({ disabled: false, description: 'v2' });
      const del = await scim.delete(`/Agents/${created.id}`).set('If-Match', v1.version);
      expect(del.status).toBe(412);
      expect(await storedAgent(created.id)).toMatchObject({ disabled: false });
    });

    it('PUT replaces: attributes left out are cleared or back to their default; jwks is for creation only', async () => {
      const created = await create('okta-put', { [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read'] }], maxDelegationDepth: 2 } });
      const resource: Record<string, unknown> = { ...created, meta: undefined };
      const put = await scim.put(`/Agents/${created.id}`, { ...resource, description: undefined, [EXT]: { entitlements: [{ target: API, scopes: ['invoices:read', 'invoices:write'] }] } });
      expect(put.status).toBe(200);
      expect(put.body.description).toBeUndefined();
      expect(put.body[EXT]).toMatchObject({ maxDelegationDepth: 0, entitlements: [{ target: API, scopes: ['invoices:read', 'invoices:write'] }] });
      const keys = await scim.put(`/Agents/${created.id}`, { ...resource, [EXT]: { ...(resource[EXT] as object), jwks: { keys: [] } } });
      expect(keys.body).toMatchObject({ status: '400', scimType: 'mutability' });
    });

    it('the provisioning client can never grant admin-audience scopes (create or PATCH): 403, nothing changed, a denial recorded', async () => {
      const before = (await scim.get('/Agents?count=200')).body.totalResults as number;
      const res = await scim.post('/Agents', newAgent('okta-escalate', { [EXT]: { entitlements: [{ target: ADMIN_AUD, scopes: ['agents:manage'] }] } }));
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ schemas: [SCIM_ERROR], status: '403' });
      expect((await scim.get('/Agents?count=200')).body.totalResults).toBe(before);
      const { id } = await create('okta-escalate-2');
      const patch = await scim.patch(`/Agents/${id}`, patchOps({ op: 'add', path: `${EXT}:entitlements`, value: [{ target: ADMIN_AUD, scopes: ['scim:provision'] }] }));
      expect(patch.status).toBe(403);
      expect((await storedAgent(id))!.audiences).toEqual({ [API]: ['invoices:read'] });
      expect(sts.events.events.filter((e) => e.type === 'admin.denied' && e.actor === PROVISIONER)).toHaveLength(2);
    });

    it('a refused value names the attribute (400 invalidValue), nothing changed', async () => {
      const { id } = await create('okta-bad');
      const res = await scim.patch(`/Agents/${id}`, patchOps({ op: 'replace', path: `${EXT}:entitlements`, value: [{ target: API, scopes: ['not-offered'] }] }));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ scimType: 'invalidValue' });
      expect((await storedAgent(id))!.audiences).toEqual({ [API]: ['invoices:read'] });
      const owners = await scim.post('/Agents', newAgent('okta-two-owners', { owners: [{ value: 'a' }, { value: 'b' }] }));
      expect(owners.body).toMatchObject({ status: '400', scimType: 'invalidValue', detail: expect.stringContaining('owners') });
    });

    it('POST with active false creates the agent disabled', async () => {
      const created = await create('okta-inactive', { active: false });
      expect(created.active).toBe(false);
      expect(await storedAgent(created.id)).toMatchObject({ disabled: true });
      const refused = await request(sts.app).post('/token').set('Authorization', basic(created.id, await rotateSecret(sts, adminToken, created.id))).type('form')
        .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
      expect(refused.status).toBe(401);
    });

    it('DELETE deprovisions: 204, every session dead, the id gone from SCIM and the registry', async () => {
      const { id } = await create('okta-gone');
      const token = await agentToken(id);
      const res = await scim.delete(`/Agents/${id}`);
      expect(res.status).toBe(204);
      expect((await introspect(sts, token)).body).toEqual({ active: false });
      expect((await scim.get(`/Agents/${id}`)).status).toBe(404);
      expect(await storedAgent(id)).toMatchObject({ id, deleted: expect.any(String), deletedBy: PROVISIONER });
      expect(sts.events.events.find((e) => e.type === 'agent.deleted' && e.agent === id)).toMatchObject({ by: PROVISIONER, revoked: 1 });
      expect((await scim.delete(`/Agents/${id}`)).status).toBe(404);
    });
  });
});
