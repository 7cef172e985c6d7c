import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Registry, TrustedIssuer } from '../clients/types.js';
import { invalidGrant } from '../errors.js';
import { CLOCK_TOLERANCE_SECONDS, issuedInFuture } from '../protocol/jwt.js';
import { parseScope } from '../protocol/scope.js';
import { MAX_SUBJECT_LENGTH } from '../protocol/tokens.js';
import { readIssuer } from '../sessions/access-token.js';

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
 * in the registry gets a new set at once, and never verifies with its old keys.
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

export interface UpstreamToken {
  issuer: TrustedIssuer;
  sub: string;
  exp: number;
  /** What the user granted: every token exchanged from it stays within this. */
  scope: string[];
}

export interface UpstreamVerifier {
  /**
   * Verifies a trusted issuer's access token (signature, iss, aud, exp/nbf, algorithms, a `scope`
   * claim); invalid_grant otherwise. Requiring `scope` also refuses ID tokens and other JWTs that
   * grant nothing, whatever subject_token_type they are labelled with.
   */
  verify(token: string, tokenType: 'access_token' | 'jwt'): Promise<UpstreamToken>;
}

export function upstreamVerifier(registry: Registry, nowMs: () => number, keySets = new UpstreamKeySets()): UpstreamVerifier {
  return {
    async verify(token, tokenType) {
      const iss = readIssuer(token);
      const issuer = iss ? await registry.trustedIssuer(iss) : undefined;
      if (!issuer) throw invalidGrant('subject token is not from a trusted issuer').because('issuer_not_trusted');
      let payload: JWTPayload;
      try {
        // RFC 9068: an access token says so in its header; an ID token or an assertion does not.
        const typ = decodeProtectedHeader(token).typ?.toLowerCase();
        if (tokenType === 'access_token' && typ !== 'at+jwt' && typ !== 'application/at+jwt') {
          throw invalidGrant('subject token is not an RFC 9068 access token (typ at+jwt)').because('subject_not_access_token');
        }
        ({ payload } = await jwtVerify(token, keySets.of(issuer), {
          issuer: issuer.issuer,
          audience: issuer.audience,
          algorithms: issuer.algorithms,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['sub', 'exp'],
          currentDate: new Date(nowMs()),
        }));
      } catch (err) {
        if ((err as { error?: string }).error === 'invalid_grant') throw err;
        throw invalidGrant('subject token rejected', `jose: ${(err as { code?: string }).code ?? 'invalid'}`).because('subject_invalid');
      }
      if (issuedInFuture(payload, nowMs() / 1000)) throw invalidGrant('subject token rejected: issued in the future').because('subject_invalid');
      if (typeof payload.scope !== 'string') throw invalidGrant('subject token grants no scope (not an access token)').because('subject_not_access_token');
      // RFC 7519 §4.1.2: sub is a StringOrURI; jose checks its type only when told which subject to expect.
      const sub: unknown = payload.sub;
      if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUBJECT_LENGTH) {
        throw invalidGrant(`subject token's sub must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`).because('subject_invalid');
      }
      // RFC 7519 §2 allows a fractional NumericDate; everything agent-sts stores and answers is whole seconds.
      return { issuer, sub, exp: Math.floor(payload.exp!), scope: parseScope(payload.scope) };
    },
  };
}
