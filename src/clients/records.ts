import type { JWK } from 'jose';
import type { RegistryKind } from '../store/registry.js';
import { AGENT_ALIASES, foldAliases } from './attributes.js';
import { FILE_SECRET_ID } from './authenticate.js';
import { secretExpiresMs, type Credential } from './credentials.js';
import type { ParsedRegistryDocument } from './registry-file.js';
import type { Agent, ResourceServer } from './types.js';

/**
 * What the live registry stores per client (as JSON in the RegistryStore). Secrets are kept only
 * as salted hashes, keys only as public JWKs (see credentials.ts). Times are ISO 8601.
 */
export type { Credential, JwkCredential, SecretCredential } from './credentials.js';

/**
 * Where an entry came from: the seed file (STS_REGISTRY_MODE=file keeps those read-only), the
 * admin API, or SCIM (a provisioning client manages only the agents it provisioned).
 */
export type RecordSource = 'file' | 'api' | 'scim';

/** One step of a registry change that still has to run after the record is written (each is idempotent). */
export type ChangeStep =
  /** The agent's status key: refuse (disabled) or allow again (enabled, lowering its kill marker) every create naming it. */
  | { do: 'status'; disabled: boolean }
  /** Kill every session the agent holds or acts in. */
  | { do: 'kill_agent' }
  /** Kill the agent's sessions an entitlement narrowing no longer covers: target → removed scopes (null: the whole target). */
  | { do: 'kill_narrowed'; removed: [string, string[] | null][] }
  /** Drop the agent's usage counts (a re-created id starts with none). */
  | { do: 'forget_usage' };

/**
 * A registry change applied to the record but not yet complete: kept in the record (so the change
 * and its remainder are written in one step) until every step ran and its outcome was recorded.
 * Any later change of the record, a retry, or any instance's sweep completes it.
 */
export interface PendingChange {
  op: string;
  /** The request that made the change (its `registry.change_requested` record). */
  requestId: string;
  adminSid?: string;
  by: string;
  sinceMs: number;
  steps: ChangeStep[];
  /** The outcome record (`agent.disabled`, …) to write once the steps ran; `revoked` is counted by the kill steps. */
  outcome: Record<string, unknown> & { type: string };
}

interface RecordMeta {
  credentials: Credential[];
  created: string;
  updated: string;
  /** The admin agent of the last change; 'registry-file' for a seeded entry. */
  updatedBy: string;
  source: RecordSource;
  pending?: PendingChange;
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
  pending?: PendingChange;
}

export type Stored<R> = R | DeletedRecord;

export const isDeleted = <R extends object>(r: Stored<R>): r is DeletedRecord => 'deleted' in r;

/**
 * A stored record as this version reads it: an agent stored before `grantTypes` replaced
 * `tokenExchange` has its alias folded in (and is written back without it by its next change).
 */
export function readStored<R extends object>(kind: RegistryKind, json: string): Stored<R> {
  const r = JSON.parse(json) as Stored<R>;
  return kind === 'agent' && !isDeleted(r) ? (foldAliases(AGENT_ALIASES, r) as Stored<R>) : r;
}

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
    secrets: credentials.flatMap((c) => (c.type === 'secret' ? [{ id: c.id, hash: c.hash, ...(c.expires ? { expiresMs: secretExpiresMs(c) } : {}) }] : [])),
    ...(keys.length ? { jwks: { keys } } : {}),
  };
}

const META = ['credentials', 'created', 'updated', 'updatedBy', 'source', 'pending'] as const;
const withoutMeta = <R extends RecordMeta>(r: R) => Object.fromEntries(Object.entries(r).filter(([k]) => !(META as readonly string[]).includes(k)));

/** The Agent the service works with, frozen (every lookup shares it). */
export function agentOf(r: AgentRecord): Agent {
  return Object.freeze({ ...(withoutMeta(r) as Omit<AgentRecord, keyof RecordMeta>), ...runtimeCredentials(r.credentials) });
}

export function resourceServerOf(r: ResourceServerRecord): ResourceServer {
  return Object.freeze({ ...(withoutMeta(r) as Omit<ResourceServerRecord, keyof RecordMeta>), ...runtimeCredentials(r.credentials) });
}
