import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { OAuthError } from '../errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import { parseForm, type OAuthRequest, type OAuthResponse } from '../oauth/request.js';
import { renderError } from './errors.js';
import { attachFront, REQUEST_ID_HEADER, type Front, type FrontedListener } from './front.js';
import type { EndpointName, RequestMetrics } from './metrics.js';
import { writeJson } from './respond.js';

/** Tokens are a few KB; a larger form is not a token request. */
export const FORM_BODY_LIMIT_BYTES = 64 * 1024;

export type OAuthHandler = (req: OAuthRequest) => Promise<OAuthResponse>;

export interface OAuthRoute {
  /** Absolute URL of the endpoint (an accepted client-assertion audience). */
  url: string;
  /** Its label in the metrics. */
  name: EndpointName;
  handle: OAuthHandler;
}

/** Reads the body within the limit; the encoding and charset checks keep decoding trivial. */
function readBody(req: IncomingMessage): Promise<string> {
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding.toLowerCase() !== 'identity') {
    return Promise.reject(new OAuthError(415, 'invalid_request', 'unsupported body encoding'));
  }
  const charset = /;\s*charset=("?)([^";]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    return Promise.reject(new OAuthError(415, 'invalid_request', 'unsupported body charset'));
  }
  const tooLarge = () => new OAuthError(413, 'invalid_request', 'request body too large');
  if (Number(req.headers['content-length'] ?? 0) > FORM_BODY_LIMIT_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > FORM_BODY_LIMIT_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => reject(new OAuthError(400, 'invalid_request', 'malformed request body')));
  });
}

/**
 * The OAuth endpoints on bare node:http: they sit on every agent's hot path, and express's routing
 * and body parsing cost more than the endpoint itself (see bench/). Everything else goes to `next`.
 */
export function oauthServer(
  routes: Map<string, OAuthRoute>,
  limits: RateLimits,
  log: Logger,
  next: RequestListener,
  metrics?: RequestMetrics,
): FrontedListener {
  const serve = async (route: OAuthRoute, req: IncomingMessage, res: ServerResponse, query: string, front: Front) => {
    const { context, address } = front;
    const startedAt = metrics ? performance.now() : 0;
    try {
      await limits.ip(address);
      const body = await readBody(req);
      const out = await route.handle({ method: req.method ?? 'GET', headers: req.headers, query, params: parseForm(body), endpointUrl: route.url, context, address });
      writeJson(res, out.status ?? 200, out.headers, out.body, [REQUEST_ID_HEADER, context.requestId]);
    } catch (err) {
      renderError(log, req, res, err, front);
      metrics?.failed(route.name, err);
    }
    metrics?.served(route.name, res.statusCode, startedAt);
  };
  return (req, res, front) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const route = routes.get(q < 0 ? url : url.slice(0, q));
    if (route) void serve(route, req, res, q < 0 ? '' : url.slice(q + 1), front);
    else {
      attachFront(req, res, front);
      next(req, res);
    }
  };
}
