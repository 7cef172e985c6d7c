import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Connections kept open to the authorization server; introspection is one request per API request. */
const MAX_SOCKETS = 64;
/** An introspection answer is small; anything larger is not one. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface PostOptions {
  timeoutMs: number;
  /** Default application/x-www-form-urlencoded. */
  contentType?: string;
  /** Default 64 KiB. */
  maxResponseBytes?: number;
  signal?: AbortSignal;
  /** A background request (the revocation feed's long poll) must not keep the process alive. */
  unref?: boolean;
}

export interface HttpClient {
  /** One POST with a JSON answer. Rejects on any failure. */
  post(url: string, headers: Record<string, string>, body: string, o: PostOptions): Promise<{ status: number; json: unknown }>;
  /** Closes every kept-alive connection (and fails requests still in flight). */
  close(): void;
}

/**
 * A pool of kept-alive connections owned by one gate or one feed, closed with it (node:http:
 * several times cheaper per call than fetch, which matters on a path taken by every API request).
 */
export function httpClient(): HttpClient {
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }), https: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }) };
  return {
    post: (url, headers, body, o) => post(url, headers, body, o, agents),
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function post(url: string, headers: Record<string, string>, body: string, o: PostOptions, agents: { http: HttpAgent; https: HttpsAgent }): Promise<{ status: number; json: unknown }> {
  const maxBytes = o.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, 'content-type': o.contentType ?? 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: o.timeoutMs,
        ...(o.signal ? { signal: o.signal } : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (o.unref) req.on('socket', (socket) => socket.unref());
    req.on('error', reject);
    req.end(body);
  });
}
