import { AGENT_ATTRIBUTES, type AttributeSpec } from '../clients/attributes.js';

/**
 * The Agent resource as SCIM shows it (RFC 7643 §7, draft-wzdk-scim-agent-resource): the core
 * Agent schema, agent-sts's extension carrying what the registry needs, the resource type and the
 * service provider's configuration. The attributes come from the registry's table
 * (clients/attributes.ts names each one's SCIM place); only their SCIM shapes are written here.
 */

export const AGENT_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Agent';
export const EXTENSION_SCHEMA = 'urn:ietf:params:scim:schemas:extension:agent-sts:2.0:Agent';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';
const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';

/** A page of a list answers at most this many resources (RFC 7644 §3.4.2.4: a provider may answer fewer than asked). */
export const MAX_COUNT = 200;
/** A PATCH carries at most this many operations. */
export const MAX_OPERATIONS = 100;
/** A filter is at most this long. */
export const MAX_FILTER_CHARS = 1_000;
/** A request body is at most this large. */
export const MAX_BODY = '64kb';

interface ScimAttribute {
  name: string;
  type: 'string' | 'boolean' | 'integer' | 'complex' | 'reference';
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'default' | 'never';
  uniqueness: 'none' | 'server';
  subAttributes?: ScimAttribute[];
  referenceTypes?: string[];
}

type Shape = Pick<ScimAttribute, 'type' | 'multiValued'> & Partial<ScimAttribute>;

const sub = (name: string, type: ScimAttribute['type'], description: string, more: Partial<ScimAttribute> = {}): ScimAttribute => ({
  name, type, multiValued: false, description, required: false, caseExact: true, mutability: 'readWrite', returned: 'default', uniqueness: 'none', ...more,
});

/** How SCIM carries each registry attribute (names from the table's `scim`). */
const SHAPES: Record<keyof typeof AGENT_ATTRIBUTES, Shape> = {
  displayName: { type: 'string', multiValued: false, caseExact: false },
  externalId: { type: 'string', multiValued: false },
  owner: {
    type: 'complex', multiValued: true, subAttributes: [
      sub('value', 'string', 'the owner: a user or group id of the directory, or a team or ticket', { required: true }),
      sub('type', 'string', '"User" or "Group" (kept only as the owner\'s value; this service keeps one owner)'),
      sub('display', 'string', 'the owner\'s name (not kept)'),
    ],
  },
  description: { type: 'string', multiValued: false, caseExact: false },
  audiences: {
    type: 'complex', multiValued: true, subAttributes: [
      sub('target', 'reference', 'a resource server\'s target URI (resource indicator or audience)', { required: true, referenceTypes: ['uri'] }),
      sub('scopes', 'string', 'the scopes the agent may hold there', { multiValued: true, required: true }),
    ],
  },
  maxTokenTtlSeconds: { type: 'integer', multiValued: false },
  maxDelegationDepth: { type: 'integer', multiValued: false },
  grantTypes: { type: 'string', multiValued: true },
  delegates: { type: 'complex', multiValued: true, subAttributes: [sub('value', 'string', 'the id of an agent of this service', { required: true })] },
  requireDpop: { type: 'boolean', multiValued: false },
};

function attributeOf(name: keyof typeof AGENT_ATTRIBUTES, spec: AttributeSpec): ScimAttribute {
  return {
    name: spec.scim!.name, description: spec.description, required: spec.requiredOnCreate === true, caseExact: true,
    mutability: spec.editable ? 'readWrite' : 'immutable', returned: 'default', uniqueness: 'none', ...SHAPES[name],
  };
}

const tableAttributes = (where: 'core' | 'extension') => Object.entries(AGENT_ATTRIBUTES)
  .filter(([, a]) => (a as AttributeSpec).scim?.in === where)
  .map(([n, a]) => attributeOf(n as keyof typeof AGENT_ATTRIBUTES, a));

const CORE_ATTRIBUTES: ScimAttribute[] = [
  sub('id', 'string', 'the agent\'s client_id at this service (assigned by it)', { mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  ...tableAttributes('core'),
  sub('active', 'boolean', 'false disables the agent: every session it holds or acts in is dead at once, on every instance'),
];

const EXTENSION_ATTRIBUTES: ScimAttribute[] = [
  ...tableAttributes('extension'),
  sub('jwks', 'complex', 'at creation only: the agent\'s public keys ({"keys": [JWK]}), its first credential for private_key_jwt', {
    mutability: 'writeOnly', returned: 'never',
  }),
];

/** Lower-cased SCIM attribute names whose string values compare case-insensitively in filters (caseExact false). */
export const CASE_IGNORED = new Set([...CORE_ATTRIBUTES, ...EXTENSION_ATTRIBUTES].filter((a) => !a.caseExact).map((a) => a.name.toLowerCase()));

const meta = (base: string, resourceType: string, path: string) => ({ resourceType, location: `${base}${path}` });

export function schemas(base: string) {
  return [
    { schemas: [SCHEMA_SCHEMA], id: AGENT_SCHEMA, name: 'Agent', description: 'An AI agent: a client of this token service', attributes: CORE_ATTRIBUTES, meta: meta(base, 'Schema', `/Schemas/${AGENT_SCHEMA}`) },
    {
      schemas: [SCHEMA_SCHEMA], id: EXTENSION_SCHEMA, name: 'AgentStsAgent', description: 'What agent-sts needs of an agent: entitlements, delegates, token limits',
      attributes: EXTENSION_ATTRIBUTES, meta: meta(base, 'Schema', `/Schemas/${EXTENSION_SCHEMA}`),
    },
  ];
}

export function resourceTypes(base: string) {
  return [{
    schemas: [RESOURCE_TYPE_SCHEMA], id: 'Agent', name: 'Agent', endpoint: '/Agents', description: 'AI agents (draft-wzdk-scim-agent-resource)',
    schema: AGENT_SCHEMA, schemaExtensions: [{ schema: EXTENSION_SCHEMA, required: false }], meta: meta(base, 'ResourceType', '/ResourceTypes/Agent'),
  }];
}

export function serviceProviderConfig(base: string, documentationUri: string | undefined) {
  return {
    schemas: [SPC_SCHEMA],
    ...(documentationUri ? { documentationUri } : {}),
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_COUNT },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [{
      type: 'oauthbearertoken', name: 'OAuth Bearer Token', primary: true,
      description: 'an access token of this service for its admin audience, with scope scim:provision (DPoP-bound tokens with the DPoP scheme)',
    }],
    meta: meta(base, 'ServiceProviderConfig', '/ServiceProviderConfig'),
  };
}

/** A list response (RFC 7644 §3.4.2). */
export const listResponse = (resources: unknown[], total: number, startIndex: number) => ({
  schemas: [LIST_RESPONSE_SCHEMA], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources,
});
