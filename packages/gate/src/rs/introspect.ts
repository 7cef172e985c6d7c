import { createHash } from 'node:crypto';
import { clientAuthentication, type ClientCredentials } from '../protocol/client/client-auth.js';
import type { Clock } from '../protocol/clock.js';
import { expiresAtMs } from '../protocol/expiry.js';
import { wellFormedClaims, type CheckedClaims } from './claims.js';
import type { IssuerMetadata } from './discovery.js';
import type { HttpClient } from './http.js';
import { invalidToken, unavailable } from './refusal.js';
import type { RevocationFeed } from './revocations.js';

/** The resource server's own credentials at /introspect and /ssf/poll: a client secret, or a key for private_key_jwt. */
export type RsCredentials = ClientCredentials;

const DEFAULT_CACHE_ENTRIES = 10_000;
const MS_PER_SECOND = 1_000;

export interface IntrospectOptions {
  issuer: string;
  credentials: RsCredentials;
  metadata: () => Promise<IssuerMetadata>;
  /** The gate's connection pool. */
  http: HttpClient;
  clock: Clock;
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
    const auth = await clientAuthentication(o.credentials, o.issuer, o.clock);
    let body: unknown;
    try {
      const res = await o.http.post(endpoint, auth.headers, new URLSearchParams({ token, ...auth.params }).toString(), { timeoutMs: o.timeoutMs });
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
    const now = o.clock.nowMs();
    const hit = cache.get(key);
    if (hit && hit.untilMs > now && !feed?.isRevoked(hit.claims.sid)) return hit.claims;
    cache.delete(key);
    const claims = await ask(token);
    while (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, { claims, untilMs: Math.min(now + o.cacheMaxAgeSeconds * MS_PER_SECOND, expiresAtMs(claims.exp)) });
    return claims;
  };
}
