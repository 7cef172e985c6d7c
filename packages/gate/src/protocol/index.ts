/**
 * The `agent-sts-gate/protocol` entry: what a token's reader (a resource server, an agent) and
 * agent-sts share: shapes, constants, the scope and expiry rules, the JWT and DPoP policies, the SSF
 * event shapes and the client kit. Nothing of the server is loaded through it: jose and node only.
 */
export * from './claims.js';
export * from './clock.js';
export * from './dpop.js';
export * from './expiry.js';
export * from './jwt.js';
export * from './scope.js';
export * from './ssf.js';
export * from './tokens.js';
export * from './client/index.js';
