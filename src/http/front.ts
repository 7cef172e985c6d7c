import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { RequestContext } from '../audit/context.js';
import type { RateLimits } from '../limits/rate-limits.js';

/**
 * What every request gets before either stack sees it: its context (request id, arrival time) and
 * the caller's address. Both the bare node:http endpoints and express read it from here, so there
 * is one notion of "who is calling" and one request id per request, echoed on every response.
 */

export type TrustProxy = string | number | undefined;
export type TrustFunction = (addr: string, hop: number) => boolean;

/** A caller's X-Request-Id is used only in this shape: it goes into log lines and events verbatim. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'X-Request-Id';

export interface Front {
  context: RequestContext;
  /** The socket's address, or X-Forwarded-For's only through proxies we trust. */
  address: string;
}

const FRONT = Symbol('agent-sts.front');
type Fronted = IncomingMessage & { [FRONT]?: Front };

/** STS_TRUST_PROXY as one function: proxy-addr and express's 'trust proxy' both take it. */
export function trustFunction(trust: TrustProxy): TrustFunction | undefined {
  if (trust === undefined) return undefined;
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  return proxyaddr.compile(trust.split(',').map((s) => s.trim()));
}

function clientAddress(trust: TrustFunction | undefined): (req: IncomingMessage) => string {
  if (!trust) return (req) => req.socket.remoteAddress ?? 'unknown';
  return (req) => proxyaddr(req, trust);
}

export function frontOf(req: IncomingMessage): Front {
  const front = (req as Fronted)[FRONT];
  if (!front) throw new Error('request did not pass through the HTTP front');
  return front;
}

/** A listener that is handed the request's front directly (the bare OAuth endpoints). */
export type FrontedListener = (req: IncomingMessage, res: ServerResponse, front: Front) => void;

/**
 * The front for every request. The hot OAuth endpoints get it as an argument and write the
 * request id with their own writeHead: a property added to node's request object and a header set
 * before writeHead both cost measurably on a path that serves ~10k requests a second.
 */
export function httpFront(trust: TrustFunction | undefined, nowMs: () => number, next: FrontedListener): RequestListener {
  const addressOf = clientAddress(trust);
  return (req, res) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    next(req, res, { context: { requestId, startedMs: nowMs() }, address: addressOf(req) });
  };
}

/** For the stacks that read the front from the request (express): attaches it and sets the id header. */
export function attachFront(req: IncomingMessage, res: ServerResponse, front: Front): void {
  (req as Fronted)[FRONT] = front;
  res.setHeader(REQUEST_ID_HEADER, front.context.requestId);
}

/** The per-address limit as express middleware: the admin API spends the same budget as /token. */
export function limitByAddress(limits: RateLimits) {
  return function limitByAddress(req: IncomingMessage, _res: ServerResponse, next: (err?: unknown) => void): void {
    limits.ip(frontOf(req).address).then(() => next(), next);
  };
}
