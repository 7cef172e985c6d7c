import type { JWK } from 'jose';
import { FILE_SECRET_ID } from './authenticate.js';
import type { ParsedRegistryDocument } from './registry-file.js';
import type { Agent, ResourceServer } from './types.js';

/**
 * What the live registry stores per client (as JSON in the RegistryStore). Secrets are kept only
 * as salted hashes, keys only as public JWKs. Times are ISO 8601.
 */
export interface SecretCredential {
  id: string;
  type: 'secret';
  hash: string;
  created: string;
  /** A rotated-out secret keeps working until then (the rotation's overlap). */
  expires?: string;
}

export interface JwkCredential {
  id: string;
  type: 'jwk';
  jwk: JWK;
  created: string;
}

export type Credential = SecretCredential | JwkCredential;

/** Where an entry came from: the seed file (STS_REGISTRY_MODE=file keeps those read-only) or the API. */
export type RecordSource = 'file' | 'api';

interface RecordMeta {
  credentials: Credential[];
  created: string;
  updated: string;
  /** The admin agent of the last change; 'registry-file' for a seeded entry. */
  updatedBy: string;
  source: RecordSource;
}

export type AgentRecord = Omit<Agent, 'secretHash' | 'secrets' | 'jwks'> & RecordMeta;
export type ResourceServerRecord = Omit<ResourceServer, 'secretHash' | 'secrets' | 'jwks'> & RecordMeta;

/**
 * A deleted entry: kept so the seed file does not bring it back at the next boot (its audit
 * history stays in the audit trail). A create through the API may reuse the id.
 */
export interface DeletedRecord {
  id: string;
  deleted: string;
  deletedBy: string;
}

export type Stored<R> = R | DeletedRecord;

export const isDeleted = <R extends object>(r: Stored<R>): r is DeletedRecord => 'deleted' in r;

/** The updatedBy of entries the seed file created. */
export const FILE_ACTOR = 'registry-file';

function credentialsOf(secretHash: string | undefined, jwks: { keys: JWK[] } | undefined, created: string): Credential[] {
  return [
    ...(secretHash ? [{ id: FILE_SECRET_ID, type: 'secret' as const, hash: secretHash, created }] : []),
    ...(jwks?.keys ?? []).map((jwk, i) => ({ id: jwk.kid ?? `jwk-${i}`, type: 'jwk' as const, jwk, created })),
  ];
}

type FileAgent = ParsedRegistryDocument['agents'][number];
type FileServer = ParsedRegistryDocument['resourceServers'][number];

export function agentRecordOfFile(a: FileAgent, nowIso: string): AgentRecord {
  const { secretHash, jwks, ...rest } = a;
  return { ...rest, credentials: credentialsOf(secretHash, jwks as { keys: JWK[] } | undefined, nowIso), created: nowIso, updated: nowIso, updatedBy: FILE_ACTOR, source: 'file' };
}

export function serverRecordOfFile(r: FileServer, nowIso: string): ResourceServerRecord {
  const { secretHash, jwks, ...rest } = r;
  return { ...rest, credentials: credentialsOf(secretHash, jwks as { keys: JWK[] } | undefined, nowIso), created: nowIso, updated: nowIso, updatedBy: FILE_ACTOR, source: 'file' };
}

function runtimeCredentials(credentials: Credential[]): Pick<Agent, 'secrets' | 'jwks'> {
  const keys = credentials.flatMap((c) => (c.type === 'jwk' ? [c.jwk] : []));
  return {
    secrets: credentials.flatMap((c) => (c.type === 'secret' ? [{ id: c.id, hash: c.hash, ...(c.expires ? { expiresMs: Date.parse(c.expires) } : {}) }] : [])),
    ...(keys.length ? { jwks: { keys } } : {}),
  };
}

const META = ['credentials', 'created', 'updated', 'updatedBy', 'source'] as const;
const withoutMeta = <R extends RecordMeta>(r: R) => Object.fromEntries(Object.entries(r).filter(([k]) => !(META as readonly string[]).includes(k)));

/** The Agent the service works with, frozen (every lookup shares it). */
export function agentOf(r: AgentRecord): Agent {
  return Object.freeze({ ...(withoutMeta(r) as Omit<AgentRecord, keyof RecordMeta>), ...runtimeCredentials(r.credentials) });
}

export function resourceServerOf(r: ResourceServerRecord): ResourceServer {
  return Object.freeze({ ...(withoutMeta(r) as Omit<ResourceServerRecord, keyof RecordMeta>), ...runtimeCredentials(r.credentials) });
}

/** Credentials as the admin API shows them: metadata only, never a hash or key material beyond the public JWK's id. */
export function credentialView(c: Credential, lastUsedMs: number | undefined) {
  return {
    id: c.id,
    type: c.type,
    created: c.created,
    expires: c.type === 'secret' ? (c.expires ?? null) : null,
    lastUsed: lastUsedMs === undefined ? null : new Date(lastUsedMs).toISOString(),
  };
}
