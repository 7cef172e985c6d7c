import type { JWTPayload } from 'jose';

/** The signature algorithms accepted from others (client assertions, trusted issuers): asymmetric only. */
export const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/** Clock skew tolerated on client assertions and upstream tokens. */
export const CLOCK_TOLERANCE_SECONDS = 10;

/** jose checks iat only with maxTokenAge (which would make iat required): a future iat is refused here. */
export function issuedInFuture(payload: JWTPayload, nowS: number): boolean {
  return typeof payload.iat === 'number' && payload.iat > nowS + CLOCK_TOLERANCE_SECONDS;
}
