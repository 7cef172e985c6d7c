import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { OAuthError } from '../errors.js';

/** body-parser failures are client mistakes: map them to OAuth errors, never a 500. */
function fromBodyParser(err: { type?: string; status?: number }): OAuthError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new OAuthError(413, 'invalid_request', 'request body too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new OAuthError(415, 'invalid_request', 'unsupported body encoding');
    case 'entity.parse.failed':
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new OAuthError(400, 'invalid_request', 'malformed request body');
    default:
      // zlib and other stream failures carry a 4xx status but no type: still the client's mistake.
      return typeof err.status === 'number' && err.status >= 400 && err.status < 500
        ? new OAuthError(err.status, 'invalid_request', 'malformed request body')
        : undefined;
  }
}

/** The one error handler: OAuth errors carry their status; anything else is a logged 500 without details. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = err instanceof OAuthError ? err : fromBodyParser(err) ?? new OAuthError(500, 'server_error');
    if (e.status >= 500) log.error({ err: e.cause ?? err, path: req.path }, e.error);
    res.status(e.status).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache', ...e.headers }).json(e.body());
  };
}
