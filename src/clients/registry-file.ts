import { readFile } from 'node:fs/promises';
import { importJWK, type JWK } from 'jose';
import { z } from 'zod';
import { ASYMMETRIC_ALGORITHMS } from 'agent-sts-gate/protocol';
import { agentId, AGENT_ALIASES, AGENT_ATTRIBUTES, RESOURCE_SERVER_ATTRIBUTES, storedFields, targetUri, withAliases } from './attributes.js';
import { MIN_SECRET_LENGTH, SECRET_HASH_PATTERN } from './secret.js';
import { ADMIN_AUDIENCE, ADMIN_SCOPES, UPSTREAM_TOKEN_KINDS, type Agent, type Registry, type ResourceServer, type TrustedIssuer } from './types.js';

const secretHash = z.string().regex(SECRET_HASH_PATTERN, `the output of 'npm run --silent hash-secret -- <secret>' (secrets of ${MIN_SECRET_LENGTH}+ characters)`);
export const jwks = z.strictObject({ keys: z.array(z.looseObject({ kty: z.string() })).min(1) });

/**
 * A file entry: its attributes (clients/attributes.ts, deprecated aliases folded in), its
 * credentials as a hash or public keys, and for an agent whether it starts disabled.
 */
export const agentSchema = withAliases(AGENT_ALIASES, z.strictObject({
  id: agentId,
  secretHash: secretHash.optional(),
  jwks: jwks.optional(),
  ...storedFields(AGENT_ATTRIBUTES),
  disabled: z.boolean().default(false),
}));

export const resourceServerSchema = z.strictObject({
  id: targetUri,
  secretHash: secretHash.optional(),
  jwks: jwks.optional(),
  ...storedFields(RESOURCE_SERVER_ATTRIBUTES),
});

const trustedIssuerSchema = z.strictObject({
  issuer: z.url(),
  jwksUri: z.url({ protocol: /^https?$/ }).optional(),
  jwks: jwks.optional(),
  audience: z.string().min(1).optional(),
  accepts: z.array(z.enum(UPSTREAM_TOKEN_KINDS)).min(1).default(['subject-token']),
  agents: z.array(agentId).min(1),
  algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
});

const registrySchema = z.strictObject({
  agents: z.array(agentSchema).default([]),
  resourceServers: z.array(resourceServerSchema).default([]),
  trustedIssuers: z.array(trustedIssuerSchema).default([]),
});

export type RegistryDocument = z.input<typeof registrySchema>;
export type ParsedRegistryDocument = z.output<typeof registrySchema>;

export class RegistryError extends Error {
  constructor(file: string, readonly problems: string[]) {
    super(`invalid registry ${file}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'RegistryError';
  }
}

/** What the cross-entry rules look up: which agents exist, which scopes a target offers (undefined: it does not say). */
export interface RegistryLookup {
  hasAgent(id: string): boolean;
  offered(target: string): readonly string[] | undefined;
}

/**
 * The rules that span entries, for one agent (the file and the admin API call this one copy):
 * its delegates exist (or are itself), and its entitlements stay inside what each server offers.
 * `where` prefixes each problem with the agent's place (`agents[3].` in the file, nothing in the API).
 */
export function agentReferenceProblems(a: Pick<Agent, 'id' | 'delegates' | 'audiences'>, lookup: RegistryLookup, where = ''): string[] {
  const problems: string[] = [];
  for (const d of a.delegates) if (d !== a.id && !lookup.hasAgent(d)) problems.push(`${where}delegates: unknown agent "${d}"`);
  for (const [aud, scopes] of Object.entries(a.audiences)) {
    const offered = lookup.offered(aud);
    for (const s of scopes) if (offered && !offered.includes(s)) problems.push(`${where}audiences["${aud}"]: scope "${s}" is not offered there`);
  }
  return problems;
}

/** Rules that span entries: ids unique, a credential each, references resolve, entitlements inside what is offered. */
function crossCheck(doc: z.output<typeof registrySchema>): string[] {
  const problems: string[] = [];
  const agents = new Set<string>();
  const servers = new Map<string, readonly string[]>();
  for (const [i, a] of doc.agents.entries()) {
    if (agents.has(a.id)) problems.push(`agents[${i}].id: duplicate agent "${a.id}"`);
    agents.add(a.id);
    if (!a.secretHash && !a.jwks) problems.push(`agents[${i}]: needs secretHash or jwks`);
  }
  for (const [i, rs] of doc.resourceServers.entries()) {
    if (servers.has(rs.id)) problems.push(`resourceServers[${i}].id: duplicate resource server "${rs.id}"`);
    if (rs.id === ADMIN_AUDIENCE) problems.push(`resourceServers[${i}].id: "${ADMIN_AUDIENCE}" is the admin API's audience`);
    if (!rs.secretHash && !rs.jwks) problems.push(`resourceServers[${i}]: needs secretHash or jwks`);
    servers.set(rs.id, rs.scopes);
  }
  const lookup: RegistryLookup = { hasAgent: (id) => agents.has(id), offered: (t) => (t === ADMIN_AUDIENCE ? ADMIN_SCOPES : servers.get(t)) };
  for (const [i, a] of doc.agents.entries()) problems.push(...agentReferenceProblems(a, lookup, `agents[${i}].`));
  for (const [i, t] of doc.trustedIssuers.entries()) {
    if (!t.jwks === !t.jwksUri) problems.push(`trustedIssuers[${i}]: needs exactly one of jwksUri or jwks`);
    if (t.accepts.includes('subject-token') && t.audience === undefined) problems.push(`trustedIssuers[${i}].audience: required when it accepts subject tokens`);
    for (const a of t.agents) if (!agents.has(a)) problems.push(`trustedIssuers[${i}].agents: unknown agent "${a}"`);
  }
  return problems;
}

export async function checkPublicKeys(where: string, set: { keys: JWK[] } | undefined, problems: string[]): Promise<void> {
  for (const [i, jwk] of (set?.keys ?? []).entries()) {
    if ('d' in jwk || 'k' in jwk) {
      problems.push(`${where}.jwks.keys[${i}]: must be a public key (private or symmetric key material found)`);
      continue;
    }
    try {
      await importJWK(jwk, jwk.alg ?? (jwk.kty === 'OKP' ? 'EdDSA' : jwk.kty === 'EC' ? 'ES256' : 'RS256'));
    } catch (err) {
      problems.push(`${where}.jwks.keys[${i}]: ${(err as Error).message}`);
    }
  }
}

/** Validates a registry document (schema, cross references, public keys); every problem is listed. */
export async function parseRegistryDocument(raw: unknown, file = 'registry'): Promise<ParsedRegistryDocument> {
  const parsed = registrySchema.safeParse(raw);
  if (!parsed.success) {
    throw new RegistryError(file, parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`));
  }
  const doc = parsed.data;
  const problems = crossCheck(doc);
  for (const [i, a] of doc.agents.entries()) await checkPublicKeys(`agents[${i}]`, a.jwks as { keys: JWK[] }, problems);
  for (const [i, r] of doc.resourceServers.entries()) await checkPublicKeys(`resourceServers[${i}]`, r.jwks as { keys: JWK[] }, problems);
  for (const [i, t] of doc.trustedIssuers.entries()) await checkPublicKeys(`trustedIssuers[${i}]`, t.jwks as { keys: JWK[] }, problems);
  if (problems.length) throw new RegistryError(file, problems);
  return doc;
}

/** A read-only registry of a validated document (the file registry, STS_REGISTRY_MODE aside). */
export function registryOf(doc: ParsedRegistryDocument): Registry {
  const agents = new Map(doc.agents.map((a) => [a.id, Object.freeze(a as Agent)]));
  const servers = new Map(doc.resourceServers.map((r) => [r.id, Object.freeze(r as ResourceServer)]));
  const issuers = new Map(doc.trustedIssuers.map((t) => [t.issuer, Object.freeze(t as TrustedIssuer)]));
  return {
    agent: (agentId) => agents.get(agentId),
    resourceServer: (serverId) => servers.get(serverId),
    trustedIssuer: (issuer) => issuers.get(issuer),
    agents: () => [...agents.values()],
    resourceServers: () => [...servers.values()],
  };
}

/** Validates a registry document; every problem is listed, then the maps are frozen. */
export async function parseRegistry(raw: unknown, file = 'registry'): Promise<Registry> {
  return registryOf(await parseRegistryDocument(raw, file));
}

export async function readRegistryFile(file: string): Promise<ParsedRegistryDocument> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RegistryError(file, [(err as Error).message]);
  }
  return parseRegistryDocument(raw, file);
}

export async function loadRegistryFile(file: string): Promise<Registry> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RegistryError(file, [(err as Error).message]);
  }
  return parseRegistry(raw, file);
}
