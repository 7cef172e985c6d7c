/**
 * Client authentication at a token, introspection, revocation or SSF endpoint (RFC 6749 §2.3,
 * RFC 7523 §2.2), encoded one way for every caller: the CLI, the resource-server gate, the tests.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { systemClock, type Clock } from '../clock.js';
import { MS_PER_EXP_UNIT } from '../expiry.js';
import { JWT_BEARER_ASSERTION } from '../tokens.js';

/** A client's credentials: a secret (sent Basic unless `method` says post), or a key for private_key_jwt. */
export type ClientCredentials =
  | { clientId: string; clientSecret: string; method?: 'client_secret_basic' | 'client_secret_post' }
  | { clientId: string; privateKey: CryptoKey | KeyObject | JWK | Uint8Array; alg: string; kid?: string };

/** What a request carries to authenticate: headers to add, and form (or JSON) members to add. */
export interface ClientAuthentication {
  headers: Record<string, string>;
  params: Record<string, string>;
}

/** Lifetime of a client assertion: long enough for one request, short for its replay window. */
export const ASSERTION_LIFETIME_SECONDS = 60;

const ALPHANUMERIC = /^[A-Za-z0-9]$/;

/**
 * application/x-www-form-urlencoded as RFC 6749 Appendix B defines it (UTF-8, then HTML 4.01):
 * a space becomes "+", every octet but a letter or digit becomes %HH.
 */
export function formUrlEncode(value: string): string {
  let out = '';
  for (const octet of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(octet);
    out += octet === 0x20 ? '+' : ALPHANUMERIC.test(c) ? c : `%${octet.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** RFC 6749 §2.3.1 client_secret_basic: id and secret form-urlencoded, then Basic. The Authorization value. */
export function clientSecretBasic(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`).toString('base64')}`;
}

/** RFC 6749 §2.3.1 client_secret_post: the members a form body carries. */
export const clientSecretPost = (clientId: string, clientSecret: string): Record<string, string> => ({ client_id: clientId, client_secret: clientSecret });

/**
 * RFC 7523 §2.2 private_key_jwt: an assertion signed with the client's key, for `audience` (the
 * authorization server's issuer or the endpoint's URL), fresh `jti`, a short life.
 */
export async function privateKeyJwt(
  creds: Extract<ClientCredentials, { privateKey: unknown }>, audience: string, clock: Clock = systemClock,
): Promise<Record<string, string>> {
  const nowS = Math.floor(clock.nowMs() / MS_PER_EXP_UNIT);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: creds.alg, ...(creds.kid ? { kid: creds.kid } : {}) })
    .setIssuer(creds.clientId)
    .setSubject(creds.clientId)
    .setAudience(audience)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + ASSERTION_LIFETIME_SECONDS)
    .setJti(randomUUID())
    .sign(creds.privateKey);
  return { client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion };
}

/** The headers and members one request carries for `creds`; `audience` matters to private_key_jwt only. */
export async function clientAuthentication(creds: ClientCredentials, audience: string, clock: Clock = systemClock): Promise<ClientAuthentication> {
  if ('privateKey' in creds) return { headers: {}, params: await privateKeyJwt(creds, audience, clock) };
  if (creds.method === 'client_secret_post') return { headers: {}, params: clientSecretPost(creds.clientId, creds.clientSecret) };
  return { headers: { authorization: clientSecretBasic(creds.clientId, creds.clientSecret) }, params: {} };
}
