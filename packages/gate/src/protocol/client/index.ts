/**
 * The client-side protocol kit: what any caller of an authorization server or a protected resource
 * needs (the CLI, the resource-server gate, the enforcement probe, the tests). It imports only jose,
 * node built-ins and the rest of protocol/, never the server.
 */
export {
  authorizationServerMetadata, DiscoveryError, fetchMetadata, WELL_KNOWN, wellKnownPath, wellKnownUrl,
  type AuthorizationServerMetadata, type FetchOptions, type WellKnownSuffix,
} from './discovery.js';
export {
  ASSERTION_LIFETIME_SECONDS, clientAuthentication, clientSecretBasic, clientSecretPost, formUrlEncode, privateKeyJwt,
  type ClientAuthentication, type ClientCredentials,
} from './client-auth.js';
export {
  clientCredentialsGrant, isDpopBound, requestToken, tokenExchangeGrant, TokenRequestError,
  type GrantTarget, type TokenRequestOptions, type TokenResponse,
} from './token-request.js';
export {
  DEFAULT_DPOP_ALG, dpopProofClaims, dpopProofHeader, dpopSigner, generateDpopKeyPair, htuFor,
  type DpopKeyPair, type DpopSigner, type ProofClaims, type ProofRequest,
} from './dpop.js';
export {
  challengeFor, ChallengeSyntaxError, errorText, formatChallenge, MAX_ERROR_TEXT_CHARS, parseChallenges, type Challenge,
} from './challenge.js';
