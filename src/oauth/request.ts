import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from '../audit/context.js';
import { invalidRequest } from '../errors.js';

/** A parsed OAuth endpoint request, independent of the HTTP framework that carried it. */
export interface OAuthRequest {
  method: string;
  headers: IncomingHttpHeaders;
  /** Raw query string (without '?'), '' when absent. */
  query: string;
  params: Map<string, string[]>;
  /** Absolute URL of the endpoint being called (an accepted client-assertion audience). */
  endpointUrl: string;
  context: RequestContext;
  /** The caller's address, as the HTTP front computed it (named in the audit record of a refusal). */
  address?: string;
}

export interface OAuthResponse {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * application/x-www-form-urlencoded parsing as URLSearchParams does it, except that a parameter
 * sent without a value (`scope=`, or `scope`) is left out: RFC 6749 §3.2 says it MUST be treated
 * as omitted, so every endpoint and grant sees one rule.
 */
export function parseForm(body: string): Map<string, string[]> {
  const params = new Map<string, string[]>();
  const add = (k: string, v: string) => {
    if (v === '') return;
    const values = params.get(k);
    if (values) values.push(v);
    else params.set(k, [v]);
  };
  // A token request is mostly base64url, '.', '-', ':' and '=': with nothing to decode, splitting
  // on '&' and the first '=' is the whole algorithm and skips URLSearchParams' decoding pass.
  if (!body.includes('%') && !body.includes('+')) {
    for (const pair of body.split('&')) {
      const eq = pair.indexOf('=');
      if (eq >= 0) add(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return params;
  }
  for (const [k, v] of new URLSearchParams(body)) add(k, v);
  return params;
}

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * POST with a form body only, no query parameters (oidc-provider does the same), and none of the
 * parameters `defined` repeated. RFC 6749 §3.2 as corrected by erratum 5708: the no-repeat rule
 * covers the parameters the endpoint defines; a parameter it does not recognise is ignored, even repeated.
 */
export function assertWellFormed(req: OAuthRequest, defined: ReadonlySet<string>): void {
  if (req.method !== 'POST') throw invalidRequest('use POST');
  const header = req.headers['content-type'] ?? '';
  const type = header === FORM_TYPE ? header : header.split(';')[0]!.trim().toLowerCase();
  if (type !== FORM_TYPE) {
    throw invalidRequest('the body must be application/x-www-form-urlencoded');
  }
  if (req.query !== '') throw invalidRequest('parameters must be sent in the body, not the query string');
  assertNotRepeated(req, defined);
}

/** The no-repeat rule alone, for parameters known once the request says more (a grant's, by its grant_type). */
export function assertNotRepeated(req: OAuthRequest, defined: ReadonlySet<string>): void {
  for (const [name, values] of req.params) {
    if (values.length > 1 && defined.has(name)) throw invalidRequest(`parameter '${name}' was repeated`);
  }
}

export function param(req: OAuthRequest, name: string): string | undefined {
  return req.params.get(name)?.[0];
}

export function requireParam(req: OAuthRequest, name: string): string {
  const v = param(req, name);
  if (v === undefined) throw invalidRequest(`missing parameter '${name}'`);
  return v;
}
