import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { wellFormedClaims, type CheckedClaims } from './claims.js';
import type { IssuerMetadata } from './discovery.js';
import { postForm } from './http.js';
import { invalidToken, unavailable } from './refusal.js';
import type { RevocationFeed } from './revocations.js';

/** The resource server's own credentials at /introspect: a client secret, or a key for private_key_jwt. */
export type RsCredentials =
  | { clientId: string; clientSecret: string }
  | { clientId: string; privateKey: CryptoKey | KeyObject | JWK | Uint8Array; alg: string; kid?: string };

/** Lifetime of a client assertion: long enough for one request, short for its replay window. */
const ASSERTION_LIFETIME_SECONDS = 60;
const DEFAULT_CACHE_ENTRIES = 10_000;

/** RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding. */
const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');

export async function clientAuth(creds: RsCredentials, issuer: string): Promise<{ headers: Record<string, string>; params: Record<string, string> }> {
  if ('clientSecret' in creds) {
    const basic = Buffer.from(`${formEncode(creds.clientId)}:${formEncode(creds.clientSecret)}`).toString('base64');
    return { headers: { authorization: `Basic ${basic}` }, params: {} };
  }
  const nowS = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: creds.alg, ...(creds.kid ? { kid: creds.kid } : {}) })
    .setIssuer(creds.clientId)
    .setSubject(creds.clientId)
    .setAudience(issuer)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + ASSERTION_LIFETIME_SECONDS)
    .setJti(randomUUID())
    .sign(creds.privateKey);
  return {
    headers: {},
    params: { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion },
  };
}

export interface IntrospectOptions {
  issuer: string;
  credentials: RsCredentials;
  metadata: () => Promise<IssuerMetadata>;
  timeoutMs: number;
  /** 0 (the default) caches nothing: a kill is seen on the very next request. */
  cacheMaxAgeSeconds: number;
  cacheMaxEntries?: number;
  /** With a cache: kills heard here drop cached answers; while it is not fresh nothing is cached or reused. */
  feed?: Pick<RevocationFeed, 'isRevoked' | 'fresh' | 'onResync'>;
}

/**
 * RFC 7662 introspection with this resource server's credentials. Any answer other than 200 with a
 * JSON body is a 503 (fail closed); `active: false` is invalid_token. With a cache, only positive
 * answers are kept, keyed by the token's hash, and never past the token's `exp`.
 */
export function introspector(o: IntrospectOptions): (token: string) => Promise<CheckedClaims> {
  const cache = new Map<string, { claims: CheckedClaims; untilMs: number }>();
  const maxEntries = o.cacheMaxEntries ?? DEFAULT_CACHE_ENTRIES;

  const ask = async (token: string): Promise<CheckedClaims> => {
    const { introspection_endpoint: endpoint } = await o.metadata();
    if (!endpoint) throw unavailable('the authorization server offers no introspection endpoint');
    const auth = await clientAuth(o.credentials, o.issuer);
    let body: unknown;
    try {
      const res = await postForm(endpoint, auth.headers, new URLSearchParams({ token, ...auth.params }).toString(), o.timeoutMs);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      body = res.json;
    } catch {
      throw unavailable('the authorization server did not answer the introspection');
    }
    if (typeof body !== 'object' || body === null) throw unavailable('the introspection answer is not an object');
    if ((body as { active?: unknown }).active !== true) throw invalidToken('the token is not active');
    const claims = wellFormedClaims(body as Record<string, unknown>);
    if (!claims) throw invalidToken('the introspection answer lacks required claims');
    return claims;
  };

  if (o.cacheMaxAgeSeconds <= 0) return ask;
  const feed = o.feed;
  feed?.onResync(() => cache.clear());
  return async (token) => {
    // A feed gone quiet may have missed a kill: ask every time until it is fresh again.
    if (feed && !feed.fresh()) return ask(token);
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.untilMs > now && !feed?.isRevoked(hit.claims.sid)) return hit.claims;
    cache.delete(key);
    const claims = await ask(token);
    while (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, { claims, untilMs: Math.min(now + o.cacheMaxAgeSeconds * 1000, claims.exp * 1000) });
    return claims;
  };
}
