/**
 * Token requests (RFC 6749 §4.4 client credentials, RFC 8693 token exchange), authenticated with
 * the kit's client authentication and, given a signer, DPoP-bound (RFC 9449 §5), one nonce retry.
 */
import { systemClock, type Clock } from '../clock.js';
import { DPOP_TOKEN_TYPE } from '../dpop.js';
import { GRANT_TYPES, TOKEN_TYPES } from '../tokens.js';
import { clientAuthentication, type ClientCredentials } from './client-auth.js';
import type { DpopSigner } from './dpop.js';

/** RFC 6749 §5.1 (and RFC 8693 §2.2.1): what a successful token request answers. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  issued_token_type?: string;
  [member: string]: unknown;
}

/** The token endpoint refused (RFC 6749 §5.2), or answered something that is not a token response. */
export class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    readonly error: string | undefined,
    readonly description: string | undefined,
  ) {
    super(error ? `${error} (${status})${description ? `: ${description}` : ''}` : `the token endpoint answered ${status}${description ? `: ${description}` : ''}`);
    this.name = 'TokenRequestError';
  }
}

const list = (v: string | readonly string[] | undefined) => (v === undefined ? [] : typeof v === 'string' ? [v] : [...v]);

function form(entries: Record<string, string | readonly string[] | undefined>): URLSearchParams {
  const f = new URLSearchParams();
  for (const [k, v] of Object.entries(entries)) for (const one of list(v)) f.append(k, one);
  return f;
}

export interface GrantTarget {
  /** RFC 8707 resource indicator(s). */
  resource?: string | readonly string[];
  audience?: string | readonly string[];
  /** Scopes, joined with spaces. */
  scope?: readonly string[] | string;
}

const scopeOf = (s: GrantTarget['scope']) => (s === undefined ? undefined : typeof s === 'string' ? s : s.join(' '));

/** RFC 6749 §4.4.2. */
export const clientCredentialsGrant = (t: GrantTarget = {}): URLSearchParams =>
  form({ grant_type: GRANT_TYPES.clientCredentials, resource: t.resource, audience: t.audience, scope: scopeOf(t.scope) });

/** RFC 8693 §2.1: the subject token (an access token unless said otherwise), and the actor's when acting for it. */
export const tokenExchangeGrant = (t: GrantTarget & {
  subjectToken: string; subjectTokenType?: string; actorToken?: string; actorTokenType?: string; requestedTokenType?: string;
}): URLSearchParams =>
  form({
    grant_type: GRANT_TYPES.tokenExchange, subject_token: t.subjectToken, subject_token_type: t.subjectTokenType ?? TOKEN_TYPES.accessToken,
    ...(t.actorToken !== undefined ? { actor_token: t.actorToken, actor_token_type: t.actorTokenType ?? TOKEN_TYPES.accessToken } : {}),
    requested_token_type: t.requestedTokenType, resource: t.resource, audience: t.audience, scope: scopeOf(t.scope),
  });

export interface TokenRequestOptions {
  credentials: ClientCredentials;
  /** With a signer the request carries a proof, asking for a DPoP-bound token. */
  dpop?: DpopSigner;
  /** The assertion's audience for private_key_jwt; default the endpoint's URL. */
  audience?: string;
  /** Default: the global fetch (pass one with a timeout, a signal, friendlier errors). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  clock?: Clock;
}

/** RFC 9449 §8: a server that wants a nonce answers 400 use_dpop_nonce with a DPoP-Nonce header. */
const USE_DPOP_NONCE = 'use_dpop_nonce';

async function bodyOf(res: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const body: unknown = JSON.parse(await res.text());
    return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * POSTs `grant` to `endpoint`. Resolves to the token response; throws TokenRequestError with the
 * status and the OAuth error when refused (or when the answer lacks access_token or token_type).
 */
export async function requestToken(endpoint: string, grant: URLSearchParams, o: TokenRequestOptions): Promise<TokenResponse> {
  const clock = o.clock ?? systemClock;
  const send = o.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
  const attempt = async (nonce: string | undefined) => {
    const auth = await clientAuthentication(o.credentials, o.audience ?? endpoint, clock);
    const body = new URLSearchParams(grant);
    for (const [k, v] of Object.entries(auth.params)) body.set(k, v);
    const headers: Record<string, string> = { ...auth.headers, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    if (o.dpop) headers.DPoP = await o.dpop.proof('POST', endpoint, nonce !== undefined ? { nonce } : {});
    const res = await send(endpoint, { method: 'POST', headers, body: body.toString() });
    return { res, json: await bodyOf(res) };
  };
  let { res, json } = await attempt(undefined);
  const nonce = res.headers.get('dpop-nonce');
  if (o.dpop && res.status === 400 && json?.error === USE_DPOP_NONCE && nonce) ({ res, json } = await attempt(nonce));
  if (!res.ok) {
    const text = (k: string) => (typeof json?.[k] === 'string' ? (json[k] as string) : undefined);
    throw new TokenRequestError(res.status, text('error'), text('error_description'));
  }
  if (typeof json?.access_token !== 'string' || typeof json.token_type !== 'string') {
    throw new TokenRequestError(res.status, undefined, 'the token answer has no access_token or token_type');
  }
  return json as TokenResponse;
}

/** RFC 9449 §5: whether the token response says the token is DPoP-bound (a server may ignore the proof). */
export const isDpopBound = (t: Pick<TokenResponse, 'token_type'>): boolean => t.token_type.toLowerCase() === DPOP_TOKEN_TYPE.toLowerCase();
