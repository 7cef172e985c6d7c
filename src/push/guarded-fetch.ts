import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Fetch } from '../probe/http.js';
import { RefusedAddressError, type PushAddressPolicy } from './address-policy.js';

/** An answer's body is read up to this size (the probe reads statuses, headers and a metadata document). */
const MAX_BODY_BYTES = 64 * 1024;
/** Statuses whose Response may carry no body (WHATWG fetch). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * A `fetch` for the server's own probe: connections go where `policy` (push delivery's address
 * rules, production) lets them, judged as delivery judges them: an address before anything
 * connects, a name on every address it resolves to when node connects (`policy.lookup`). No
 * redirect is followed, no body is sent (GET and HEAD only), the answer's body is bounded.
 */
export function guardedFetch(policy: PushAddressPolicy | undefined): Fetch {
  return (url, init) => new Promise<Response>((resolve, reject) => {
    const u = new URL(url);
    const method = init.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return reject(new TypeError(`guardedFetch sends GET and HEAD only, not ${method}`));
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (policy && isIP(host) && !policy.permits(host)) return reject(new TypeError('fetch failed', { cause: new RefusedAddressError(host, host) }));
    const headers = new Headers(init.headers);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method, headers: Object.fromEntries(headers), ...(policy ? { lookup: policy.lookup } : {}), ...(init.signal ? { signal: init.signal } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) res.destroy();
        else chunks.push(c);
      });
      res.on('error', () => {});
      res.on('close', () => {
        const status = res.statusCode ?? 0;
        const answer = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) answer.append(name, v);
        }
        const body = NULL_BODY_STATUSES.has(status) || method === 'HEAD' ? null : Buffer.concat(chunks);
        try {
          resolve(new Response(body, { status, headers: answer }));
        } catch (err) {
          reject(err);
        }
      });
    });
    // As fetch does: the cause carries the code (ECONNREFUSED, ERR_PUSH_REFUSED_ADDRESS), which the probe's evidence keeps.
    req.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    req.end();
  });
}
