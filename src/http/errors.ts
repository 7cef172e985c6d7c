import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { OAuthError, SCIM_MEDIA_TYPE } from '../errors.js';
import { frontOf, REQUEST_ID_HEADER, type Front } from './front.js';
import { writeJson } from './respond.js';

/** Errors express raises itself (a malformed URL, say) carry a 4xx status: client mistakes, not 500s. */
function fromExpress(err: { status?: unknown }): OAuthError | undefined {
  const status = err?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? new OAuthError(status, 'invalid_request', 'malformed request') : undefined;
}

/**
 * The one error renderer, for both stacks: OAuth errors carry their status and headers; anything
 * else is a logged 500 without details. The body's description is sanitised (OAuthError.body);
 * `detail` is logged with the request id and never sent.
 */
export function renderError(log: Logger, req: IncomingMessage, res: ServerResponse, err: unknown, front?: Front, as: 'oauth' | 'scim' = 'oauth'): void {
  const e = err instanceof OAuthError ? err : fromExpress(err as { status?: unknown }) ?? new OAuthError(500, 'server_error');
  const { requestId } = (front ?? frontOf(req)).context;
  const path = req.url?.split('?')[0];
  if (e.status >= 500) log.error({ requestId, err: e.cause ?? err, path }, e.error);
  else if (e.detail) log.info({ requestId, error: e.error, detail: e.detail, path }, 'request refused');
  if (res.headersSent) res.destroy();
  else if (as === 'scim') writeJson(res, e.status, e.headers, e.scimBody(), front ? [REQUEST_ID_HEADER, requestId] : undefined, SCIM_MEDIA_TYPE);
  else writeJson(res, e.status, e.headers, e.body(), front ? [REQUEST_ID_HEADER, requestId] : undefined);
}


export function errorHandler(log: Logger, as: 'oauth' | 'scim' = 'oauth'): ErrorRequestHandler {
  return (err, req, res, _next) => renderError(log, req, res, err, undefined, as);
}
