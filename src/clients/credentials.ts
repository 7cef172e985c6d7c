import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import { invalidRequest } from '../errors.js';
import { checkPublicKeys } from './registry-file.js';
import { hashSecret, newSecret } from './secret.js';

/** A client's credentials as the live registry stores them: secrets only as salted hashes, keys only as public JWKs; times ISO 8601. */
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

/** The longest overlap a rotation may leave the previous secret working. */
export const MAX_OVERLAP_SECONDS = 7 * 86_400;

/** When a secret stops authenticating (ms), or Infinity: the one rule for a rotated-out secret. */
export const secretExpiresMs = (c: { expires?: string }): number => (c.expires ? Date.parse(c.expires) : Infinity);

/** Whether a credential still authenticates at `nowMs` (public keys do until removed). */
export const credentialLive = (c: Credential, nowMs: number): boolean => c.type !== 'secret' || secretExpiresMs(c) > nowMs;

/** Credentials that still matter: a secret past its overlap is dropped at the next change. */
export const liveCredentials = (credentials: Credential[], nowMs: number): Credential[] => credentials.filter((c) => credentialLive(c, nowMs));

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
export async function newKeyCredential(jwk: JWK, nowIso: string, field = 'jwk'): Promise<Credential> {
  const problems: string[] = [];
  await checkPublicKeys(field, { keys: [jwk] }, problems);
  if (problems.length) throw invalidRequest(problems[0]!.replace(`${field}.jwks.keys[0]`, field));
  return { id: jwk.kid ?? (await calculateJwkThumbprint(jwk)), type: 'jwk', jwk, created: nowIso };
}

/** Public keys sent to the API, checked as the file's are: 400 naming the first problem. */
export async function keyCredentials(jwks: { keys: JWK[] }, nowIso: string): Promise<Credential[]> {
  const problems: string[] = [];
  await checkPublicKeys('jwks', jwks, problems);
  if (problems.length) throw invalidRequest(problems[0]!.replace('jwks.jwks', 'jwks'));
  return Promise.all(jwks.keys.map((k) => newKeyCredential(k, nowIso)));
}

/** A new secret (returned once, stored hashed); the previous ones keep working for the overlap only. */
export function rotateSecret(credentials: Credential[], overlapSeconds: number, nowMs: number): Rotated {
  const secret = newSecret();
  const until = nowMs + overlapSeconds * 1_000;
  const hadSecret = credentials.some((c) => c.type === 'secret' && credentialLive(c, nowMs));
  const kept = credentials.flatMap((c): Credential[] => {
    if (c.type !== 'secret') return [c];
    const expiresMs = Math.min(secretExpiresMs(c), until);
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
