/** One error type for every protocol failure: it carries its own HTTP status and OAuth code. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'slow_down'
  | 'not_found'
  | 'server_error';

export class OAuthError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description ?? error);
    this.name = 'OAuthError';
    this.expose = status < 500 || status === 503;
  }

  body(): Record<string, string> {
    return this.description ? { error: this.error, error_description: this.description } : { error: this.error };
  }
}

export const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d);
export const invalidGrant = (d: string) => new OAuthError(400, 'invalid_grant', d);
export const invalidScope = (d: string) => new OAuthError(400, 'invalid_scope', d);
export const invalidTarget = (d: string) => new OAuthError(400, 'invalid_target', d);
export const unauthorizedClient = (d: string) => new OAuthError(400, 'unauthorized_client', d);

/** 401 invalid_client; with Basic auth attempted the challenge names the scheme (RFC 6749 §5.2). */
export const invalidClient = (usedBasic: boolean, d = 'client authentication failed') =>
  new OAuthError(401, 'invalid_client', d, usedBasic ? { 'WWW-Authenticate': 'Basic realm="agent-sts"' } : {});

export const RETRY_AFTER_SECONDS = 1;

/** The store is down or slow: fail closed, never read a timeout as "not revoked". */
export class StoreUnavailableError extends OAuthError {
  constructor(cause?: unknown) {
    super(503, 'temporarily_unavailable', 'session store unavailable', { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    this.name = 'StoreUnavailableError';
    this.cause = cause;
  }
}
