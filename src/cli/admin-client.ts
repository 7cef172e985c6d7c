import { ADMIN_AUDIENCE, clientCredentialsGrant, DPOP_TOKEN_TYPE, dpopSigner, type DpopSigner, isDpopBound, requestToken, TokenRequestError, type TokenResponse } from 'agent-sts-gate/protocol';
import type { AdminScope } from '../clients/types.js';
import { CliFailure, EXIT } from './io.js';

/** A request that has not answered within this is abandoned (the server's own limits are shorter). */
const REQUEST_TIMEOUT_MS = 30_000;
/** An admin token is replaced this long before it expires, so no call carries an expiring one. */
const TOKEN_REFRESH_MARGIN_SECONDS = 30;
const MS_PER_SECOND = 1_000;

export interface AdminCredentials {
  /** The service's base URL: its issuer, e.g. https://sts.example.com. */
  url: string;
  clientId: string;
  clientSecret: string;
}

/** The server refused: its HTTP status and, when it sent one, the OAuth error and description. */
export class AdminApiError extends CliFailure {
  constructor(
    readonly status: number,
    readonly error: string | undefined,
    readonly description: string | undefined,
  ) {
    const what = error ? `${error} (${status})` : `the server answered ${status}`;
    super(EXIT.server, description ? `${what}: ${description}` : what);
    this.name = 'AdminApiError';
  }
}

export type Query = Record<string, string | number | undefined>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One path segment (agent ids and resource-server URLs alike). */
export const segment = (id: string) => encodeURIComponent(id);

/** The server checks a proof's URL against its issuer's: a URL it was reached by under another name fails there. */
const HTU_HINT = ' (AGENT_STS_URL must be the service\'s issuer URL, STS_ISSUER)';

function apiError(status: number, error: string | undefined, description: string | undefined): AdminApiError {
  const hint = error === 'invalid_dpop_proof' && description?.includes('htu') ? HTU_HINT : '';
  return new AdminApiError(status, error, description === undefined ? undefined : description + hint);
}

async function errorOf(res: Response): Promise<AdminApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
    if (typeof body.error === 'string') return apiError(res.status, body.error, typeof body.error_description === 'string' ? body.error_description : undefined);
  } catch {
    // not JSON (a proxy's page, say): the status alone
  }
  return new AdminApiError(res.status, undefined, undefined);
}

/**
 * A typed client of the admin API for one CLI run: it gets an admin token for exactly the scopes
 * the command needs (client credentials, client_secret_basic) on its first call, reuses it, and
 * gets a new one shortly before it expires (a long `audit tail -f`). The token is always asked for
 * DPoP-bound to the run's key (an admin with `requireDpop` gets no other kind, and a copied token
 * is then useless); every call carries a fresh proof, made by one signer.
 */
export class AdminClient {
  private readonly base: string;
  private token?: { value: string; dpop: boolean; refreshAtMs: number };
  private signer?: Promise<DpopSigner>;

  constructor(
    private readonly creds: AdminCredentials,
    private readonly scopes: readonly AdminScope[],
    private readonly signal?: AbortSignal,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.base = creds.url.replace(/\/+$/, '');
  }

  /** The service's base URL, as the run was given it (its issuer). */
  get baseUrl(): string {
    return this.base;
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.call<T>('GET', path, query);
  }

  send<T>(method: Exclude<Method, 'GET'>, path: string, body?: unknown): Promise<T> {
    return this.call<T>(method, path, {}, body);
  }

  /** A GET answered in another format (the access review's CSV): the body as text. */
  async getText(path: string, accept: string, query: Query = {}): Promise<string> {
    const url = this.url(path, query);
    const res = await this.fetch(url, { headers: { ...(await this.authorization('GET', url)), Accept: accept } });
    if (!res.ok) throw await errorOf(res);
    return res.text();
  }

  private async call<T>(method: Method, path: string, query: Query, body?: unknown): Promise<T> {
    const url = this.url(path, query);
    const headers: Record<string, string> = { ...(await this.authorization(method, url)), Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await this.fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw await errorOf(res);
    return (await this.json(res)) as T;
  }

  /** Authorization for one request: `DPoP <token>` and a proof for it, or `Bearer` if the server issued a bearer token. */
  private async authorization(method: Method, url: string): Promise<Record<string, string>> {
    const token = await this.currentToken();
    if (!token.dpop) return { Authorization: `Bearer ${token.value}` };
    return { Authorization: `${DPOP_TOKEN_TYPE} ${token.value}`, DPoP: await (await this.dpop()).proof(method, url, { accessToken: token.value }) };
  }

  /** The run's proof key: made on first use, never exported (its `iat` is this machine's clock). */
  private dpop(): Promise<DpopSigner> {
    this.signer ??= dpopSigner();
    return this.signer;
  }

  private async currentToken(): Promise<{ value: string; dpop: boolean }> {
    if (this.token && this.nowMs() < this.token.refreshAtMs) return this.token;
    let answer: TokenResponse;
    try {
      answer = await requestToken(`${this.base}/token`, clientCredentialsGrant({ resource: ADMIN_AUDIENCE, scope: this.scopes }), {
        credentials: { clientId: this.creds.clientId, clientSecret: this.creds.clientSecret },
        dpop: await this.dpop(),
        fetch: (url, init) => this.fetch(url, init),
      });
    } catch (err) {
      if (err instanceof TokenRequestError) throw apiError(err.status, err.error, err.description);
      throw err;
    }
    if (typeof answer.expires_in !== 'number') throw new AdminApiError(200, undefined, 'the token answer has no expires_in');
    const margin = Math.min(TOKEN_REFRESH_MARGIN_SECONDS, answer.expires_in / 2);
    // RFC 9449 §5: token_type says whether the token was bound; a server that ignored the proof issued a bearer token.
    this.token = { value: answer.access_token, dpop: isDpopBound(answer), refreshAtMs: this.nowMs() + (answer.expires_in - margin) * MS_PER_SECOND };
    return this.token;
  }

  private url(path: string, query: Query): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ''}`;
  }

  private async json(res: Response): Promise<unknown> {
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new AdminApiError(res.status, undefined, 'the answer is not JSON');
    }
  }

  /** fetch, with its failures said plainly: unreachable, no answer in time, interrupted. */
  private async fetch(url: string, init: RequestInit): Promise<Response> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, { ...init, redirect: 'error', signal: this.signal ? AbortSignal.any([this.signal, timeout]) : timeout });
    } catch (err) {
      if (this.signal?.aborted) throw new CliFailure(EXIT.usage, 'interrupted');
      if (timeout.aborted) throw new CliFailure(EXIT.server, `no answer from ${this.base} within ${REQUEST_TIMEOUT_MS / MS_PER_SECOND} s`);
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message;
      throw new CliFailure(EXIT.server, `cannot reach ${this.base}: ${why}`);
    }
  }
}
