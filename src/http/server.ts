import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/index.js';
import { OAuthError } from '../errors.js';
import { NO_STORE } from './respond.js';

/**
 * Node checks open connections against the header and request timeouts only this often (default
 * 30 s, which would let a slow client outlive a 5 s timeout); a quarter of the shorter one is enough.
 */
const CHECKS_PER_TIMEOUT = 4;
const MIN_CHECK_INTERVAL_MS = 50;

/**
 * The one HTTP server agent-sts runs (main.ts) and tests start: timeouts suited to a token service,
 * whose requests are a few KB sent at once, and a connection cap (security finding 8).
 */
export function createHttpServer(config: Pick<Config, 'http'>, listener: RequestListener): Server {
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnections } = config.http;
  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(MIN_CHECK_INTERVAL_MS, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / CHECKS_PER_TIMEOUT)),
    },
    listener,
  );
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.maxConnections = maxConnections;
  server.on('clientError', answerClientError);
  return server;
}

/** What node's HTTP parser and timers refuse before any listener runs (codes as node names them). */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'request headers too large'],
};

/**
 * node's default answer to a malformed or too-slow request is a bare status line; ours is the
 * API's JSON error shape, then the socket is destroyed. end() alone is not enough: node's HTTP
 * server allows half-open sockets, so a client that never closes its side kept the connection,
 * and its parser went on to serve a body that arrived after the 408 (security finding 20.13).
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  const sent = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || sent) {
    socket.destroy();
    return;
  }
  const [status, description] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'malformed request'];
  const body = JSON.stringify(new OAuthError(status, 'invalid_request', description).body());
  const head = { ...NO_STORE, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' };
  const lines = Object.entries(head).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines}\r\n${body}`);
  socket.destroy();
}
