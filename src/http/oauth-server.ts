import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { Logger } from 'pino';
import { OAuthError } from '../errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import { parseForm, type OAuthRequest, type OAuthResponse } from '../oauth/request.js';

/** Tokens are a few KB; a larger form is not a token request. */
export const FORM_BODY_LIMIT_BYTES = 64 * 1024;

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export type OAuthHandler = (req: OAuthRequest) => Promise<OAuthResponse>;

export interface OAuthRoute {
  /** Absolute URL of the endpoint (an accepted client-assertion audience). */
  url: string;
  handle: OAuthHandler;
}

type TrustProxy = string | number | undefined;

/** The caller's address: the socket's, or X-Forwarded-For's only through proxies we trust. */
function clientAddress(trust: TrustProxy): (req: IncomingMessage) => string {
  if (trust === undefined) return (req) => req.socket.remoteAddress ?? 'unknown';
  const trusts = typeof trust === 'number' ? (_addr: string, hop: number) => hop < trust : proxyaddr.compile(trust.split(',').map((s) => s.trim()));
  return (req) => proxyaddr(req, trusts);
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const payload = body === '' ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...NO_STORE,
    ...(payload ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
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
  trustProxy: TrustProxy,
  log: Logger,
  nowMs: () => number,
  next: RequestListener,
): RequestListener {
  const addressOf = clientAddress(trustProxy);
  const serve = async (route: OAuthRoute, req: IncomingMessage, res: ServerResponse, query: string) => {
    const context = { requestId: randomUUID(), startedMs: nowMs() };
    try {
      await limits.ip(addressOf(req));
      const body = await readBody(req);
      const out = await route.handle({ method: req.method ?? 'GET', headers: req.headers, query, params: parseForm(body), endpointUrl: route.url, context });
      send(res, out.status ?? 200, out.headers ?? {}, out.body);
    } catch (err) {
      const e = err instanceof OAuthError ? err : new OAuthError(500, 'server_error');
      if (e.status >= 500) log.error({ err: e.cause ?? err, path: req.url }, e.error);
      if (!res.headersSent) send(res, e.status, e.headers, e.body());
    }
  };
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const route = routes.get(q < 0 ? url : url.slice(0, q));
    if (route) void serve(route, req, res, q < 0 ? '' : url.slice(q + 1));
    else next(req, res);
  };
}
