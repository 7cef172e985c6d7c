/** RFC 9449 (DPoP) constants both sides share: the proof's type, its algorithms, its time window. */
import { hash } from 'node:crypto';
import { ASYMMETRIC_ALGORITHMS } from './jwt.js';

/** RFC 9449 §4.2: the `typ` of a DPoP proof JWT. */
export const DPOP_PROOF_TYP = 'dpop+jwt';

/** The `token_type` of a DPoP-bound token (RFC 9449 §5) and its Authorization scheme (§7.1). */
export const DPOP_TOKEN_TYPE = 'DPoP';

/**
 * Proof signature algorithms accepted, and so advertised: `dpop_signing_alg_values_supported` and
 * every DPoP challenge's `algs` name exactly these.
 */
export const DPOP_SIGNING_ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS;

/** How old a proof's `iat` may be. Replay entries live this long (plus the future leeway), so it bounds the cache too. */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;

/** How far in the future a proof's `iat` may be (the client's clock running ahead). */
export const DPOP_PROOF_FUTURE_LEEWAY_SECONDS = 10;

/** A proof carries one public key and a few short claims: anything longer is not a proof and costs no parsing. */
export const MAX_DPOP_PROOF_LENGTH = 8_192;

/** Longest `jti` accepted: RFC 9449 §4.2 asks for 96 random bits or more; 256 characters is ample. */
export const MAX_DPOP_JTI_LENGTH = 256;

/** RFC 7800 confirmation claim of a DPoP-bound token: the SHA-256 JWK thumbprint (RFC 7638) of the proof key. */
export interface DpopConfirmation {
  jkt: string;
}

/** RFC 9449 §4.2: `ath` is base64url(SHA-256(access token)). */
export const accessTokenHash = (token: string): string => hash('sha256', token, 'base64url');
