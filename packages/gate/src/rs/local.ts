import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Clock } from '../protocol/clock.js';
import { MS_PER_EXP_UNIT } from '../protocol/expiry.js';
import { ASYMMETRIC_ALGORITHMS, CLOCK_TOLERANCE_SECONDS, issuedInFuture } from '../protocol/jwt.js';
import { ACCESS_TOKEN_TYP } from '../protocol/tokens.js';
import { wellFormedClaims, type CheckedClaims } from './claims.js';
import type { IssuerMetadata } from './discovery.js';
import { invalidToken, unavailable } from './refusal.js';

/** A session id → killed? Fed by the revocation feed or the app's own source; without one local mode cannot see kills. */
export type RevokedSessions = (sid: string) => boolean | Promise<boolean>;

export interface LocalOptions {
  issuer: string;
  audience: string;
  metadata: () => Promise<IssuerMetadata>;
  clock: Clock;
  timeoutMs: number;
  isRevoked?: RevokedSessions;
}

/** jose codes that mean the key set could not be fetched (not that the token is bad): fail closed with 503. */
const UNREACHABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC']);
/** Verified tokens remembered; the oldest is dropped first. */
const VERIFIED_ENTRIES = 10_000;

/**
 * Verifies an RFC 9068 JWT against the issuer's JWKS (jose's remote set: cached, refetched on an
 * unknown `kid` with a cooldown): `typ` at+jwt, asymmetric algorithms only, `iss`, `aud`, `exp`/`nbf`
 * and `iat` within the leeway, and the claims agent-sts issues.
 */
export function localVerifier(o: LocalOptions): (token: string) => Promise<CheckedClaims> {
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
  const keySet = async () => {
    if (keys) return keys;
    const { jwks_uri: uri } = await o.metadata();
    if (!uri) throw unavailable('the authorization server offers no jwks_uri');
    keys = createRemoteJWKSet(new URL(uri), { timeoutDuration: o.timeoutMs });
    return keys;
  };
  // A verified signature stays verified: remembered per token (bounded), so a busy API verifies each
  // token once. exp is checked on every request by the gate, isRevoked below; kills are seen no later.
  const verified = new Map<string, CheckedClaims>();
  const remember = (token: string, claims: CheckedClaims) => {
    while (verified.size >= VERIFIED_ENTRIES) verified.delete(verified.keys().next().value as string);
    verified.set(token, claims);
  };
  const revoked = async (claims: CheckedClaims) => o.isRevoked !== undefined && (await o.isRevoked(claims.sid));
  return async (token) => {
    const known = verified.get(token);
    if (known) {
      if (await revoked(known)) throw invalidToken('the token\'s session was killed');
      return known;
    }
    const jwks = await keySet();
    let payload: Record<string, unknown>;
    const nowMs = o.clock.nowMs();
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: o.issuer,
        audience: o.audience,
        typ: ACCESS_TOKEN_TYP,
        algorithms: ASYMMETRIC_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'iat'],
        currentDate: new Date(nowMs),
      }));
    } catch (err) {
      if (!(err instanceof errors.JOSEError) || UNREACHABLE.has(err.code)) throw unavailable('the issuer\'s key set could not be loaded');
      throw invalidToken(err instanceof errors.JWTExpired ? 'the token has expired' : 'the token could not be verified');
    }
    if (issuedInFuture(payload, Math.floor(nowMs / MS_PER_EXP_UNIT))) throw invalidToken('the token is issued in the future');
    const claims = wellFormedClaims(payload);
    if (!claims) throw invalidToken('the token lacks required claims');
    if (await revoked(claims)) throw invalidToken('the token\'s session was killed');
    remember(token, claims);
    return claims;
  };
}
