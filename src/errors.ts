import type { z } from 'zod';
import { DPOP_SIGNING_ALGORITHMS, errorText, formatChallenge } from 'agent-sts-gate/protocol';

export { errorText, MAX_ERROR_TEXT_CHARS } from 'agent-sts-gate/protocol';

/** One error type for every protocol failure: it carries its own HTTP status and OAuth code. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'temporarily_unavailable'
  | 'slow_down'
  | 'not_found'
  | 'server_error';

/**
 * RFC 7644 §3.12 scimType values a registry error can carry, so a SCIM endpoint renders the same
 * error as a SCIM error body (the OAuth and admin JSON renderers ignore it).
 */
export type ScimType = 'uniqueness' | 'mutability' | 'invalidValue' | 'invalidSyntax' | 'noTarget' | 'tooMany' | 'invalidFilter' | 'invalidPath';

/** RFC 7644 §3.1: SCIM's media type, which a SCIM endpoint answers in (its errors too). */
export const SCIM_MEDIA_TYPE = 'application/scim+json; charset=utf-8';

/** RFC 7644 §3.12: the schema of a SCIM error body. */
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export class OAuthError extends Error {
  readonly expose: boolean;
  /** A precise, stable reason code for the audit trail (`not_a_delegate`, `depth_exceeded`, …); never sent. */
  reason?: string;
  /** How a SCIM response names this error (RFC 7644 §3.12); absent: no scimType. */
  scimType?: ScimType;
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description?: string,
    readonly headers: Record<string, string> = {},
    /** What the operator needs to know (ids, library error codes): logged with the request id, never sent. */
    readonly detail?: string,
  ) {
    super(description ?? error);
    this.name = 'OAuthError';
    this.expose = status < 500 || status === 503;
  }

  /** Names the precise reason this refusal records (the client still sees only `error`). */
  because(reason: string): this {
    this.reason = reason;
    return this;
  }

  /** Names the SCIM error type this error renders as at a SCIM endpoint. */
  scim(type: ScimType): this {
    this.scimType = type;
    return this;
  }

  /** The response body, its description sanitised (it may echo the caller's input). */
  body(): Record<string, string> {
    return this.description ? { error: this.error, error_description: errorText(this.description) } : { error: this.error };
  }

  /** The same error as a SCIM endpoint answers it (RFC 7644 §3.12): status as a string, scimType when it has one. */
  scimBody(): Record<string, unknown> {
    return {
      schemas: [SCIM_ERROR_SCHEMA], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}),
      detail: errorText(this.description ?? this.error),
    };
  }
}

export const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d);
export const invalidGrant = (d: string, detail?: string) => new OAuthError(400, 'invalid_grant', d, {}, detail);
export const invalidScope = (d: string) => new OAuthError(400, 'invalid_scope', d);
export const invalidTarget = (d: string, detail?: string) => new OAuthError(400, 'invalid_target', d, {}, detail);
export const unauthorizedClient = (d: string) => new OAuthError(400, 'unauthorized_client', d);

/** The realm agent-sts's own challenges name. */
const REALM = 'agent-sts';

/** 401 invalid_client; with Basic auth attempted the challenge names the scheme (RFC 6749 §5.2). */
export const invalidClient = (usedBasic: boolean, d = 'client authentication failed') =>
  new OAuthError(401, 'invalid_client', d, usedBasic ? { 'WWW-Authenticate': formatChallenge('Basic', { realm: REALM }) } : {});

/**
 * A Bearer challenge (RFC 6750 §3): without a code when no token was sent (§3.1), else with the
 * code and a description that went through the same sanitiser as the body.
 */
export function bearerError(status: 401 | 403, code?: 'invalid_token' | 'insufficient_scope', description?: string): OAuthError {
  const params = { realm: REALM, error: code, error_description: code && description ? errorText(description) : undefined };
  return new OAuthError(status, code ?? 'invalid_token', description, { 'WWW-Authenticate': formatChallenge('Bearer', params) });
}

/**
 * A DPoP challenge (RFC 9449 §7.1) for a token presented with the DPoP scheme, or a DPoP-bound one
 * presented without it: the code, the sanitised description and every algorithm a proof may use.
 */
export function dpopError(status: 400 | 401 | 403, code: 'invalid_token' | 'invalid_dpop_proof' | 'insufficient_scope', description: string): OAuthError {
  const params = { realm: REALM, error: code, error_description: errorText(description), algs: DPOP_SIGNING_ALGORITHMS.join(' ') };
  return new OAuthError(status, code, description, { 'WWW-Authenticate': formatChallenge('DPoP', params) });
}

export const RETRY_AFTER_SECONDS = 1;

/** The store is down or slow: fail closed, never read a timeout as "not revoked". */
export class StoreUnavailableError extends OAuthError {
  constructor(cause?: unknown) {
    super(503, 'temporarily_unavailable', 'session store unavailable', { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    this.name = 'StoreUnavailableError';
    this.cause = cause;
  }
}

/** A field left out reads `owner: required`, not zod's "expected string, received undefined"; other messages are zod's own. */
const missingSaysRequired = (issue: { code?: string; input?: unknown }) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined);

/**
 * Input checked by a zod schema: the parsed value, or one 400 naming the first bad field (unknown
 * fields by name), with the SCIM type a SCIM endpoint would answer.
 */
export function parseInput<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the body must be a JSON object').scim('invalidSyntax');
  }
  const parsed = schema.safeParse(body, { error: missingSaysRequired });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    throw invalidRequest(`unknown field '${[where, issue.keys[0]].filter(Boolean).join('.')}'`).scim('invalidSyntax');
  }
  throw invalidRequest(`${where || '(body)'}: ${issue.message}`).scim('invalidValue');
}
