import type { ServerResponse } from 'node:http';

/** Every answer of a token service is private to its caller (RFC 6749 §5.1). */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Writes a JSON body (or none for ''), no-store, with `headers` last so an endpoint can add to
 * them, and the request id when given. The headers go to writeHead as one flat list: no object is
 * merged on a path that answers every introspection.
 */
export function writeJson(
  res: ServerResponse, status: number, headers: Record<string, string> | undefined, body: unknown, requestId?: [name: string, value: string], type = JSON_TYPE,
): void {
  const payload = body === '' ? '' : JSON.stringify(body);
  const list: string[] = ['Cache-Control', NO_STORE['Cache-Control'], 'Pragma', NO_STORE.Pragma];
  if (payload) list.push('Content-Type', type);
  list.push('Content-Length', String(Buffer.byteLength(payload)));
  if (headers) for (const name in headers) list.push(name, headers[name]!);
  if (requestId) list.push(requestId[0], requestId[1]);
  res.writeHead(status, list);
  res.end(payload);
}
