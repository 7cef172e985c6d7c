import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { OAuthError } from '../errors.js';

/** Errors express raises itself (a malformed URL, say) carry a 4xx status: client mistakes, not 500s. */
function fromExpress(err: { status?: unknown }): OAuthError | undefined {
  const status = err.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? new OAuthError(status, 'invalid_request', 'malformed request') : undefined;
}

/** The one error handler: OAuth errors carry their status; anything else is a logged 500 without details. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = err instanceof OAuthError ? err : fromExpress(err) ?? new OAuthError(500, 'server_error');
    if (e.status >= 500) log.error({ err: e.cause ?? err, path: req.path }, e.error);
    res.status(e.status).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache', ...e.headers }).json(e.body());
  };
}
