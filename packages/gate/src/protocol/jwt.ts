import type { JWTPayload } from 'jose';

/**
 * The one home of signature-algorithm lists. Accepted from others (client assertions, trusted
 * issuers, DPoP proofs, SETs): asymmetric only.
 */
export const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/**
 * What agent-sts signs its own tokens, SETs and audit checkpoints with (`keys rotate --alg` offers
 * these; ES256 by default). RS256 because RFC 9068 §2.1 makes it the one every authorization server
 * must support, and some gateways verify RSA and ECDSA only; everything that verifies what
 * agent-sts signs accepts each of them.
 */
export const ISSUER_SIGNING_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const;
export type IssuerSigningAlg = (typeof ISSUER_SIGNING_ALGORITHMS)[number];

/** Clock skew tolerated on client assertions and upstream tokens. */
export const CLOCK_TOLERANCE_SECONDS = 10;

/** jose checks iat only with maxTokenAge (which would make iat required): a future iat is refused here. */
export function issuedInFuture(payload: JWTPayload, nowS: number): boolean {
  return typeof payload.iat === 'number' && payload.iat > nowS + CLOCK_TOLERANCE_SECONDS;
}
