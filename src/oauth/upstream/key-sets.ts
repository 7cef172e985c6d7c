import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { TrustedIssuer } from '../../clients/types.js';

/** How long a JWKS fetch from a trusted issuer may take before the exchange is refused. */
const JWKS_FETCH_TIMEOUT_MS = 3_000;
/** A fetched JWKS is used this long, then fetched again before the next verification (jose's cacheMaxAge). */
export const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/**
 * A token whose kid the cached set lacks (the issuer rotated) refetches the set, but not sooner than
 * this after the last fetch (jose's cooldownDuration): a stream of unknown kids costs one fetch per
 * cooldown, not one per token.
 */
export const JWKS_COOLDOWN_MS = 30_000;
/** Key sets kept at most (one per trusted issuer and key source); the least recently used goes first. */
export const UPSTREAM_KEY_SETS_MAX = 64;

export interface KeySetOptions {
  maxEntries: number;
  cacheMaxAgeMs: number;
  cooldownMs: number;
}
const KEY_SET_DEFAULTS: KeySetOptions = { maxEntries: UPSTREAM_KEY_SETS_MAX, cacheMaxAgeMs: JWKS_CACHE_MAX_AGE_MS, cooldownMs: JWKS_COOLDOWN_MS };

/**
 * The trusted issuers' key sets, by issuer AND key source: an issuer whose jwksUri or jwks changed
 * in the registry gets a new set at once, and never verifies with its old keys. One instance
 * (deps.ts) serves every upstream profile, so two kinds of token from one issuer cost one fetch.
 */
export class UpstreamKeySets {
  readonly #sets = new Map<string, JWTVerifyGetKey>();
  readonly #options: KeySetOptions;

  constructor(options: Partial<KeySetOptions> = {}) {
    this.#options = { ...KEY_SET_DEFAULTS, ...options };
  }

  get size(): number {
    return this.#sets.size;
  }

  of(ti: TrustedIssuer): JWTVerifyGetKey {
    const key = `${ti.issuer}\n${ti.jwks ? `jwks ${JSON.stringify(ti.jwks)}` : `uri ${ti.jwksUri}`}`;
    let set = this.#sets.get(key);
    if (set) {
      this.#sets.delete(key); // re-inserted below: Map order is then least recently used first
    } else {
      set = ti.jwks
        ? createLocalJWKSet(ti.jwks)
        : createRemoteJWKSet(new URL(ti.jwksUri!), {
            timeoutDuration: JWKS_FETCH_TIMEOUT_MS,
            cacheMaxAge: this.#options.cacheMaxAgeMs,
            cooldownDuration: this.#options.cooldownMs,
          });
      if (this.#sets.size >= this.#options.maxEntries) this.#sets.delete(this.#sets.keys().next().value!);
    }
    this.#sets.set(key, set);
    return set;
  }
}
