/** Token-type, grant-type and assertion-type URNs both sides of a token exchange name. */
const TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:';
/** RFC 8693 §3 token type identifiers. */
export const TOKEN_TYPES = { accessToken: `${TOKEN_TYPE}access_token`, jwt: `${TOKEN_TYPE}jwt` } as const;

export const GRANT_TYPES = {
  clientCredentials: 'client_credentials',
  tokenExchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
  /** RFC 7523 §2.1: a JWT as an authorization grant (here, an ID-JAG). */
  jwtBearer: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
} as const;

/**
 * draft-ietf-oauth-identity-assertion-authz-grant: the `typ` of an Identity Assertion JWT
 * Authorization Grant (ID-JAG), and the profile id `authorization_grant_profiles_supported` lists.
 */
export const ID_JAG_TYP = 'oauth-id-jag+jwt';
export const ID_JAG_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';

/** The audience (resource) of agent-sts's own admin API: an admin token is asked for it. */
export const ADMIN_AUDIENCE = 'urn:agent-sts:admin';

/** RFC 7523 §2.2: a client authenticating with a signed JWT (private_key_jwt). */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The longest lifetime a token may have (the registry's maxTokenTtlSeconds ceiling). */
export const MAX_TOKEN_TTL_SECONDS = 86_400;

/** Longer than any token agent-sts signs; anything longer is not ours and costs no parsing. */
export const MAX_TOKEN_LENGTH = 4_096;

/**
 * Longest `sub` accepted from a trusted issuer. Every issued token must stay within MAX_TOKEN_LENGTH,
 * and a user id longer than this is not a user id (Entra's is 43 characters, Keycloak's 36).
 */
export const MAX_SUBJECT_LENGTH = 255;

/** RFC 9068 §2.1: the `typ` of a JWT access token. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
