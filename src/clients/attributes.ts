import { z } from 'zod';
import { GRANT_TYPES, MAX_TOKEN_TTL_SECONDS } from 'agent-sts-gate/protocol';
import type { Agent, ResourceServer } from './types.js';

/**
 * Every attribute an admin (the registry file, the admin API, SCIM) can set on an entry, once:
 * its value schema, whether the file or a create may leave it out (and what it then is), whether
 * a PATCH may change it and whether a read shows it. The file's schema, the API's create and patch
 * bodies and the views are all derived from these tables (see below and src/registry/).
 * Not here: the id, credentials (their own routes), `disabled` (its own routes) and record metadata.
 */
export interface AttributeSpec {
  schema: z.ZodType;
  /** A create (or the file) that leaves it out gets this. */
  default?: unknown;
  /** May be absent (no default); `requiredOnCreate` makes an API create name it anyway. */
  optional?: boolean;
  requiredOnCreate?: boolean;
  editable: boolean;
  shown: boolean;
  /** What it means, for generated docs and the SCIM schema. */
  description: string;
  /** Where SCIM carries it (src/scim/): an attribute of the core Agent schema or of agent-sts's extension; absent: not over SCIM. */
  scim?: { in: 'core' | 'extension'; name: string };
}

/** Longest id of an agent (the resource server's id is its target URI). */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;
export const agentId = z.string().regex(AGENT_ID_PATTERN, 'letters, digits and ._:@/- only, at most 128');
export const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'an RFC 6749 scope token (no spaces or quotes)');
export const targetUri = z.string().refine((t) => URL.canParse(t) && !t.includes('#'), 'an absolute URI without fragment');

/** Every grant type an agent can be allowed; the server's grant list (deps.ts) offers only these (src/oauth/grants/list.ts checks at boot). */
export const GRANT_TYPE_VALUES = Object.values(GRANT_TYPES) as [string, ...string[]];
const grantTypeList = z.array(z.enum(GRANT_TYPE_VALUES)).min(1)
  .refine((types) => new Set(types).size === types.length, 'each grant type at most once');

const DEFAULT_TOKEN_TTL_SECONDS = 300;
const MAX_DELEGATION_DEPTH = 16;
const MAX_OWNER_CHARS = 200;
const MAX_DESCRIPTION_CHARS = 1_000;
const MAX_DISPLAY_NAME_CHARS = 200;
const MAX_EXTERNAL_ID_CHARS = 200;

type AgentAttribute = Exclude<keyof Agent, 'id' | 'secretHash' | 'secrets' | 'jwks' | 'disabled'>;
type ResourceServerAttribute = Exclude<keyof ResourceServer, 'id' | 'secretHash' | 'secrets' | 'jwks'>;

export const AGENT_ATTRIBUTES = {
  displayName: {
    schema: z.string().min(1).max(MAX_DISPLAY_NAME_CHARS), optional: true, editable: true, shown: true,
    description: 'a human-readable name of the agent', scim: { in: 'core', name: 'displayName' },
  },
  externalId: {
    schema: z.string().min(1).max(MAX_EXTERNAL_ID_CHARS), optional: true, editable: true, shown: true,
    description: 'the provisioning client\'s own id of the agent (its directory\'s object id)', scim: { in: 'core', name: 'externalId' },
  },
  owner: {
    schema: z.string().min(1).max(MAX_OWNER_CHARS), optional: true, requiredOnCreate: true, editable: true, shown: true,
    description: 'who is accountable for the agent (a person, a team, a ticket)', scim: { in: 'core', name: 'owners' },
  },
  description: {
    schema: z.string().max(MAX_DESCRIPTION_CHARS), optional: true, editable: true, shown: true, description: 'what the agent does',
    scim: { in: 'core', name: 'description' },
  },
  audiences: {
    schema: z.record(targetUri, z.array(scopeToken).min(1)), editable: true, shown: true,
    description: 'target (resource indicator or audience) → the scopes the agent may hold there', scim: { in: 'extension', name: 'entitlements' },
  },
  maxTokenTtlSeconds: {
    schema: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS), default: DEFAULT_TOKEN_TTL_SECONDS, editable: true, shown: true,
    description: 'the longest lifetime of a token issued to the agent', scim: { in: 'extension', name: 'maxTokenTtlSeconds' },
  },
  maxDelegationDepth: {
    schema: z.number().int().min(0).max(MAX_DELEGATION_DEPTH), default: 0, editable: true, shown: true,
    description: 'how deep a delegation chain through the agent may go', scim: { in: 'extension', name: 'maxDelegationDepth' },
  },
  grantTypes: {
    schema: grantTypeList, default: [GRANT_TYPES.clientCredentials], editable: true, shown: true,
    description: 'the grant types the agent may use at the token endpoint (else unauthorized_client)', scim: { in: 'extension', name: 'grantTypes' },
  },
  delegates: {
    schema: z.array(agentId), default: [], editable: true, shown: true, description: 'agents that may exchange this agent\'s tokens for delegated ones',
    scim: { in: 'extension', name: 'delegates' },
  },
  requireDpop: {
    schema: z.boolean(), default: false, editable: true, shown: true,
    description: 'refuse token requests without a DPoP proof (no bearer tokens for this agent)', scim: { in: 'extension', name: 'requireDpop' },
  },
} as const satisfies Record<AgentAttribute, AttributeSpec>;

/**
 * A deprecated name still accepted where an entry is written (the registry file, the API's create
 * and PATCH bodies), and in records stored before it was replaced; never stored nor shown again:
 * it folds into the attribute that replaced it.
 */
export interface AliasSpec {
  schema: z.ZodType;
  description: string;
  /** The attributes the alias sets, from its value and the entry's own (`undefined`: the entry left them out). */
  fold(value: never, entry: Readonly<Record<string, unknown>>): Record<string, unknown>;
}

/** A grant type list with `type` added (allowed) or removed; an absent list is the default one. */
function withGrantType(list: unknown, type: string, allowed: boolean): unknown {
  const base: readonly unknown[] = Array.isArray(list) ? list : AGENT_ATTRIBUTES.grantTypes.default;
  if (!allowed) return base.filter((t) => t !== type);
  return base.includes(type) ? base : [...base, type];
}

export const AGENT_ALIASES = {
  tokenExchange: {
    schema: z.boolean(),
    description: `deprecated, use grantTypes: true adds ${GRANT_TYPES.tokenExchange} to them, false removes it (applied after grantTypes)`,
    fold: (allowed: boolean, entry) => ({ grantTypes: withGrantType(entry.grantTypes, GRANT_TYPES.tokenExchange, allowed) }),
  },
} as const satisfies Record<string, AliasSpec>;

/** The entry with each alias it carries folded into its attributes; an alias of the wrong type is an issue naming it. */
export function foldAliases(aliases: Record<string, AliasSpec>, entry: unknown, ctx?: z.RefinementCtx): unknown {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return entry;
  let out = entry as Record<string, unknown>;
  for (const [name, alias] of Object.entries(aliases)) {
    if (!Object.hasOwn(out, name)) continue;
    const { [name]: value, ...rest } = out;
    const parsed = alias.schema.safeParse(value);
    if (!parsed.success) {
      ctx?.addIssue({ code: 'custom', path: [name], message: parsed.error.issues[0]?.message ?? 'invalid' });
      continue;
    }
    out = { ...rest, ...alias.fold(parsed.data as never, rest) };
  }
  return out;
}

type AliasInput<A extends Record<string, AliasSpec>> = { [K in keyof A]?: z.input<A[K]['schema']> };

/** `schema` accepting the table's aliases too, folded before it validates (the registry file, the API's bodies). */
export function withAliases<S extends z.ZodType, A extends Record<string, AliasSpec>>(aliases: A, schema: S): z.ZodType<z.output<S>, z.input<S> & AliasInput<A>> {
  return z.preprocess((entry, ctx) => foldAliases(aliases, entry, ctx), schema) as unknown as z.ZodType<z.output<S>, z.input<S> & AliasInput<A>>;
}

export const RESOURCE_SERVER_ATTRIBUTES = {
  scopes: { schema: z.array(scopeToken).min(1), editable: true, shown: true, description: 'the scopes agents may be entitled to at this resource server' },
} as const satisfies Record<ResourceServerAttribute, AttributeSpec>;

type Table = Record<string, AttributeSpec>;

/** The zod member of one attribute as a stored record has it (defaults applied, optional ones may be absent). */
type StoredMember<A extends AttributeSpec> = A extends { default: unknown } ? z.ZodDefault<A['schema']>
  : A extends { optional: true } ? z.ZodOptional<A['schema']> : A['schema'];
/** As an API create must send it: requiredOnCreate attributes are required. */
type CreateMember<A extends AttributeSpec> = A extends { requiredOnCreate: true } ? A['schema'] : StoredMember<A>;
type EditableKeys<T extends Table> = { [K in keyof T]: T[K] extends { editable: true } ? K : never }[keyof T];

export type StoredFields<T extends Table> = { [K in keyof T]: StoredMember<T[K]> };
export type CreateFields<T extends Table> = { [K in keyof T]: CreateMember<T[K]> };
export type EditableFields<T extends Table> = { [K in EditableKeys<T>]: StoredMember<T[K]> };

function member(a: AttributeSpec, required: boolean): z.ZodType {
  if (a.default !== undefined) return a.schema.default(a.default);
  return a.optional && !required ? a.schema.optional() : a.schema;
}

/** The table's fields as zod members, as a stored record or the registry file has them. */
export function storedFields<T extends Table>(table: T): StoredFields<T> {
  return Object.fromEntries(Object.entries(table).map(([n, a]) => [n, member(a, false)])) as StoredFields<T>;
}

/** As an API create sends them (requiredOnCreate enforced). */
export function createFields<T extends Table>(table: T): CreateFields<T> {
  return Object.fromEntries(Object.entries(table).map(([n, a]) => [n, member(a, a.requiredOnCreate === true)])) as CreateFields<T>;
}

/** Only what a PATCH may change, as the merged result must be (an entry the file made without an optional attribute stays valid). */
export function editableFields<T extends Table>(table: T): EditableFields<T> {
  return Object.fromEntries(Object.entries(table).flatMap(([n, a]) => (a.editable ? [[n, member(a, false)]] : []))) as EditableFields<T>;
}

/** Names a PATCH may carry. */
export const editableNames = (table: Table): string[] => Object.entries(table).flatMap(([n, a]) => (a.editable ? [n] : []));

/** What a read shows of a record's attributes: every shown one, null when absent. */
export function shownAttributes(table: Table, record: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, a] of Object.entries(table)) if (a.shown) out[name] = (record as Record<string, unknown>)[name] ?? null;
  return out;
}
