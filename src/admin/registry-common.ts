import { calculateJwkThumbprint, type JWK } from 'jose';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
export { parseBody } from './http-kit.js';
import type { EventSink } from '../audit/events.js';
import type { LiveRegistry } from '../clients/live-registry.js';
import { isDeleted, type Credential, type Stored } from '../clients/records.js';
import { checkPublicKeys } from '../clients/registry-file.js';
import { hashSecret, newSecret } from '../clients/secret.js';
import type { RegistryMode } from '../clients/seed.js';
import { OAuthError } from '../errors.js';
import type { SessionStore } from '../store/index.js';
import type { RegistryKind, RegistryStore } from '../store/registry.js';

/** What the registry's admin routes work with (built by the wiring file). */
export interface RegistryAdmin {
  live: LiveRegistry;
  store: RegistryStore;
  mode: RegistryMode;
  fileIds: { agents: ReadonlySet<string>; resourceServers: ReadonlySet<string> };
  sessionStore: SessionStore;
  events: EventSink;
}

/** The longest overlap a rotation may leave the previous secret working. */
export const MAX_OVERLAP_SECONDS = 7 * 86_400;
/** Compare-and-set attempts before a change racing other changes gives up (409, retry). */
const UPDATE_ATTEMPTS = 5;

export const notFound = (what: string) => new OAuthError(404, 'not_found', `no ${what} with that id`);
export const conflict = (d: string) => new OAuthError(409, 'invalid_request', d);

/** RFC 7396 JSON merge patch: objects merge key by key, null removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Reads a live (not deleted) record, or undefined, with the JSON it was read as (for compare-and-set). */
export async function readRecord<R extends object>(store: RegistryStore, kind: RegistryKind, id: string): Promise<{ record: R; json: string } | undefined> {
  const json = await store.get(kind, id);
  if (json === undefined) return undefined;
  const record = JSON.parse(json) as Stored<R>;
  return isDeleted(record) ? undefined : { record, json };
}

/**
 * Changes a record by compare-and-set: `change` sees the stored record and returns the next one
 * (or throws to refuse); a concurrent change makes it start over on the newer record.
 */
export async function updateRecord<R extends object, X>(
  reg: RegistryAdmin, kind: RegistryKind, id: string, what: string, change: (r: R) => Promise<{ next: R; extra: X }> | { next: R; extra: X },
): Promise<{ previous: R; next: R; extra: X }> {
  for (let i = 0; i < UPDATE_ATTEMPTS; i++) {
    const found = await readRecord<R>(reg.store, kind, id);
    if (!found) throw notFound(what);
    const { next, extra } = await change(found.record);
    if (await reg.store.replace(kind, id, found.json, JSON.stringify(next))) {
      await reg.live.refresh(kind, id);
      return { previous: found.record, next, extra };
    }
  }
  throw conflict(`the ${what} changed concurrently; retry`);
}

export const rotationBody = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('secret'), overlapSeconds: z.number().int().min(0).max(MAX_OVERLAP_SECONDS).default(0) }),
  z.strictObject({ type: z.literal('jwk'), jwk: z.looseObject({ kty: z.string() }) }),
]);
export type RotationBody = z.output<typeof rotationBody>;

export interface Rotated {
  credentials: Credential[];
  /** What the answer says: the new secret once, or the new key's id. */
  answer: { id: string; client_secret?: string; previousValidUntil?: string | null };
}

const credentialId = () => randomBytes(9).toString('base64url');

/** A new public key, checked as the file's keys are; its id is its kid or its RFC 7638 thumbprint. */
export async function newKeyCredential(jwk: JWK, nowIso: string): Promise<Credential> {
  const problems: string[] = [];
  await checkPublicKeys('jwk', { keys: [jwk] }, problems);
  if (problems.length) throw new OAuthError(400, 'invalid_request', problems[0]!.replace('jwk.jwks.keys[0]', 'jwk'));
  return { id: jwk.kid ?? (await calculateJwkThumbprint(jwk)), type: 'jwk', jwk, created: nowIso };
}

/** A new secret (returned once, stored hashed); the previous ones keep working for the overlap only. */
export function rotateSecret(credentials: Credential[], overlapSeconds: number, nowMs: number): Rotated {
  const secret = newSecret();
  const until = nowMs + overlapSeconds * 1_000;
  const hadSecret = credentials.some((c) => c.type === 'secret' && (!c.expires || Date.parse(c.expires) > nowMs));
  const kept = credentials.flatMap((c): Credential[] => {
    if (c.type !== 'secret') return [c];
    const expiresMs = Math.min(c.expires ? Date.parse(c.expires) : Infinity, until);
    return expiresMs > nowMs ? [{ ...c, expires: new Date(expiresMs).toISOString() }] : [];
  });
  const id = credentialId();
  return {
    credentials: [...kept, { id, type: 'secret', hash: hashSecret(secret), created: new Date(nowMs).toISOString() }],
    answer: { id, client_secret: secret, previousValidUntil: hadSecret ? new Date(until).toISOString() : null },
  };
}

/** A first secret for a client created through the API without keys. */
export function firstSecret(nowMs: number): { credential: Credential; secret: string } {
  const secret = newSecret();
  return { credential: { id: credentialId(), type: 'secret', hash: hashSecret(secret), created: new Date(nowMs).toISOString() }, secret };
}

/** Credentials that still matter: a secret past its overlap is dropped at the next change. */
export const unexpiredCredentials = (credentials: Credential[], nowMs: number) =>
  credentials.filter((c) => c.type !== 'secret' || !c.expires || Date.parse(c.expires) > nowMs);

/** Every live (not deleted) record of a kind, by id. */
export async function liveRecords<R extends { id: string }>(store: RegistryStore, kind: RegistryKind): Promise<R[]> {
  const { docs } = await store.all(kind);
  const records = [...docs.values()].map((j) => JSON.parse(j) as Stored<R>).filter((r): r is R => !isDeleted(r));
  return records.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** A record's view for a list: credentials without their last use (that needs one read per record). */
export function listView<V extends { credentials: { lastUsed?: unknown }[] }>(view: V): V {
  return { ...view, credentials: view.credentials.map(({ lastUsed: _l, ...c }) => c) };
}

/** Public keys sent to the API, checked as the file's are: 400 naming the first problem. */
export async function checkNewKeys(jwks: { keys: JWK[] } | undefined): Promise<void> {
  const problems: string[] = [];
  await checkPublicKeys('jwks', jwks, problems);
  if (problems.length) throw new OAuthError(400, 'invalid_request', problems[0]!.replace('jwks.jwks', 'jwks'));
}
