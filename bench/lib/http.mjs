// Small HTTP helpers for setting up scenarios (load itself is autocannon's job).

export const FORM = 'application/x-www-form-urlencoded';

export const form = (o) => new URLSearchParams(o).toString();

/** RFC 6749 §2.3.1 client_secret_basic, as the client kit encodes it (the build's). */
export { clientSecretBasic as basic } from 'agent-sts-gate/protocol';

/** One request; returns { status, body (parsed JSON or text) }. */
export async function request(url, { method = 'POST', auth, body, contentType = FORM, extraHeaders = {} } = {}) {
  const headers = { ...extraHeaders };
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = contentType;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : form(body) });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

/** Like request(), but throws unless the status is `expect`. */
export async function expectStatus(expect, url, opts) {
  const res = await request(url, opts);
  if (res.status !== expect) {
    throw new Error(`${opts?.method ?? 'POST'} ${url}: expected ${expect}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

/**
 * Runs fn(i) for i in [0, n) with at most `concurrency` in flight; results in order. Bounded: n calls,
 * and the first failure stops new calls and is thrown.
 */
export async function pool(n, concurrency, fn) {
  const out = new Array(n);
  let next = 0;
  let failed;
  const worker = async () => {
    while (next < n && !failed) {
      const i = next++;
      try {
        out[i] = await fn(i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  if (failed) throw failed;
  return out;
}
