/**
 * The `agent-sts/protocol` entry: what a token's reader (a resource server, an agent) shares with
 * agent-sts. Nothing of the server is loaded through it: no Redis, express or pino.
 */
export type { AccessTokenClaims, Actor, AuthInfo, IntrospectionBody } from './claims.js';
export { systemClock, type Clock } from './clock.js';
export { ASYMMETRIC_ALGORITHMS, CLOCK_TOLERANCE_SECONDS, ISSUER_SIGNING_ALGORITHMS, issuedInFuture } from './jwt.js';
export {
  accessTokenHash, DPOP_PROOF_FUTURE_LEEWAY_SECONDS, DPOP_PROOF_MAX_AGE_SECONDS, DPOP_PROOF_TYP, DPOP_SIGNING_ALGORITHMS, DPOP_TOKEN_TYPE,
  type DpopConfirmation,
} from './dpop.js';
export * from './client/index.js';
export { parseScope } from './scope.js';
export { ACCESS_TOKEN_TYP, ADMIN_AUDIENCE, GRANT_TYPES, JWT_BEARER_ASSERTION, MAX_TOKEN_LENGTH, TOKEN_TYPES } from './tokens.js';
