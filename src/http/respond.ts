import type { ServerResponse } from 'node:http';

/** Every answer of a token service is private to its caller (RFC 6749 §5.1). */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/** Writes a JSON body (or none for ''), no-store, with `headers` last so an endpoint can add to them. */
export function writeJson(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const payload = body === '' ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...NO_STORE,
    ...(payload ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}
