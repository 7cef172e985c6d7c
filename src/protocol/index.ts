/**
 * The `agent-sts/protocol` entry: what a token's reader (a resource server, an agent) shares with
 * agent-sts. Nothing of the server is loaded through it: no Redis, express or pino.
 */
export type { AccessTokenClaims, Actor, AuthInfo, IntrospectionBody } from './claims.js';
export { ASYMMETRIC_ALGORITHMS, CLOCK_TOLERANCE_SECONDS, issuedInFuture } from './jwt.js';
export { parseScope } from './scope.js';
export { ACCESS_TOKEN_TYP, GRANT_TYPES, JWT_BEARER_ASSERTION, MAX_TOKEN_LENGTH, TOKEN_TYPES } from './tokens.js';
