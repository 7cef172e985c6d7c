import { OAuthError, RETRY_AFTER_SECONDS, bearerError } from '../errors.js';

/** 404 for an id the registry does not hold (deleted entries included). */
export const notFound = (what: string) => new OAuthError(404, 'not_found', `no ${what} with that id`).scim('noTarget');

/** 409: an id taken, a change racing others, or one that would lock every manager out. */
export const conflict = (d: string) => new OAuthError(409, 'invalid_request', d).scim('uniqueness');

/** 403: the change needs admin scopes the acting admin does not hold (named). */
export const insufficientAuthority = (missing: string[]) =>
  bearerError(403, 'insufficient_scope', `the change needs admin scopes you do not hold: ${missing.join(' ')}`);

/** What each kind of change has done once its record is written, for a ChangePendingError to say. */
const APPLIED: Record<string, string> = {
  create: 'is created in the registry (its first secret could not be shown: rotate it)',
  update: 'has its new attributes in the registry (tokens they no longer allow are refused)',
  disable: 'is disabled in the registry (its tokens are refused)',
  enable: 'is enabled in the registry',
  delete: 'is deleted from the registry (its tokens are refused)',
  credential: 'has its new credentials in the registry',
};

/**
 * A registry change whose record landed but whose remaining steps (status key, kill, outcome
 * record) did not: it says what is in force and that a retry (or any instance's sweep, within
 * seconds) completes the rest. The body names the pending change.
 */
export class ChangePendingError extends OAuthError {
  constructor(readonly what: string, readonly op: string, readonly remaining: string[], cause: unknown) {
    super(503, 'temporarily_unavailable',
      `${what} ${APPLIED[op] ?? 'is changed in the registry'}; still to do: ${remaining.join(', ')}. Retrying completes it, and so does the service within seconds`,
      { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    this.name = 'ChangePendingError';
    this.cause = cause;
  }

  override body(): Record<string, string> {
    return { ...super.body(), pending: this.op };
  }
}
