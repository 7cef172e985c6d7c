import { decodeProtectedHeader, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { CLOCK_TOLERANCE_SECONDS, issuedInFuture } from 'agent-sts-gate/protocol';
import type { Registry, TrustedIssuer, UpstreamTokenKind } from '../../clients/types.js';
import { invalidGrant, OAuthError } from '../../errors.js';
import { readIssuer } from '../../sessions/access-token.js';
import type { UpstreamKeySets } from './key-sets.js';

/**
 * One kind of token a trusted issuer signs and a grant accepts (RFC 8693's subject token; an
 * ID-JAG, RFC 7523 with draft-ietf-oauth-identity-assertion-authz-grant): what it must name
 * and carry, and who may present it. Whether the issuer is trusted for this kind at all, the
 * signature, `iss`, `exp`/`nbf`, the issuer's algorithms, the clock leeway and `iat` are checked
 * the same way for every profile, over the same key sets.
 */
export interface UpstreamProfile<T> {
  /** The kind a trusted issuer's `accepts` must list; any other issuer is untrusted for this profile. */
  readonly kind: UpstreamTokenKind;
  /** What a refusal calls the token ("subject token"). */
  readonly name: string;
  /** Prefixes the audit reason of a token jose refuses (`subject` → `subject_invalid`). */
  readonly reasonPrefix: string;
  /** The `aud` a token of this issuer must name: the issuer's configured audience, or this server. */
  audience(issuer: TrustedIssuer): string;
  /** Claims jose must find. */
  readonly requiredClaims: readonly string[];
  /** Checks the protected header (its `typ`) before any key is fetched; throws invalid_grant. */
  header?(header: ProtectedHeaderParameters): void;
  /** The checks on the verified claims; returns what the grant works with; throws invalid_grant. */
  claims(payload: JWTPayload): T;
  /** Throws invalid_grant unless the issuer's tokens may be used under this profile, by this agent. */
  admit(issuer: TrustedIssuer, agentId: string): void;
}

/** The audit reason's suffix for what jose refused: expiry and audience by name, the rest as invalid. */
function joseReason(code: string | undefined, claim: string | undefined): string {
  if (code === 'ERR_JWT_EXPIRED') return 'expired';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'aud') return 'wrong_audience';
  return 'invalid';
}

export interface UpstreamDeps {
  registry: Pick<Registry, 'trustedIssuer'>;
  keySets: UpstreamKeySets;
  nowMs(): number;
}

export type Verified<T> = T & { issuer: TrustedIssuer };
/** Verifies one profile's token presented by `agentId`: what the profile read, and the issuer it came from. */
export type UpstreamVerifier<T> = (token: string, agentId: string) => Promise<Verified<T>>;

export function upstreamVerifier<T>(profile: UpstreamProfile<T>, { registry, keySets, nowMs }: UpstreamDeps): UpstreamVerifier<T> {
  return async (token, agentId) => {
    const iss = readIssuer(token);
    const issuer = iss ? registry.trustedIssuer(iss) : undefined;
    if (!issuer || !issuer.accepts.includes(profile.kind)) {
      throw invalidGrant(`${profile.name} is not from a trusted issuer`, issuer ? `${iss} is not trusted for ${profile.kind}` : undefined).because('issuer_not_trusted');
    }
    let payload: JWTPayload;
    try {
      profile.header?.(decodeProtectedHeader(token));
      ({ payload } = await jwtVerify(token, keySets.of(issuer), {
        issuer: issuer.issuer,
        audience: profile.audience(issuer),
        algorithms: issuer.algorithms,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: [...profile.requiredClaims],
        currentDate: new Date(nowMs()),
      }));
    } catch (err) {
      if (err instanceof OAuthError) throw err;
      const { code, claim } = err as { code?: string; claim?: string };
      throw invalidGrant(`${profile.name} rejected`, `jose: ${code ?? 'invalid'}`).because(`${profile.reasonPrefix}_${joseReason(code, claim)}`);
    }
    if (issuedInFuture(payload, nowMs() / 1000)) throw invalidGrant(`${profile.name} rejected: issued in the future`).because(`${profile.reasonPrefix}_invalid`);
    const read = profile.claims(payload);
    profile.admit(issuer, agentId);
    return { ...read, issuer };
  };
}
