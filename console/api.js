// The admin's token and the calls made with it. Everything lives in this module's memory only
// (no cookie, no Web Storage): closing the tab forgets it. The secret is not kept once the token
// is obtained: a token that expires or is killed ends the console's session, as in Keycloak. The token is always asked for bound to
// this login's DPoP key (dpop.js): one path for every admin agent, and the only one that works
// for an agent with requireDpop.
import { newKey, proof } from './dpop.js';

const ADMIN_AUDIENCE = 'urn:agent-sts:admin';
const ADMIN_SCOPES = ['sessions:read', 'sessions:kill', 'agents:read', 'agents:manage', 'audit:read'];
/** Endpoints relative to the console's own URL, so an issuer with a path works too. */
const url = (path) => new URL(`../${path}`, document.baseURI);

let clientId = null;
let token = null;
let dpopKey = null;
let bound = false;
let granted = [];
let onLoggedOut = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error_description ?? body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

async function readJson(res) {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return { error: 'bad_response', error_description: `unexpected answer (HTTP ${res.status})` };
  }
}

/** The server compares a proof's URL with its issuer's: a console opened under another name fails there. */
const HTU_HINT = ' (open the console at the service\'s issuer URL, STS_ISSUER)';

/** client_credentials for the admin audience, every admin scope asked for: the answer says which were granted. */
async function fetchToken(id, secret, key) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials', client_id: id, client_secret: secret, resource: ADMIN_AUDIENCE, scope: ADMIN_SCOPES.join(' '),
  });
  const headers = { DPoP: await proof(key, 'POST', url('token')) };
  // client_secret_post: a Basic header would invite the browser's own password prompt on a 401.
  const res = await fetch(url('token'), { method: 'POST', headers, body, credentials: 'omit', cache: 'no-store' });
  const answer = await readJson(res);
  if (answer.error === 'invalid_dpop_proof' && /htu/.test(answer.error_description ?? '')) answer.error_description += HTU_HINT;
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer;
}

export async function login(id, secret) {
  const key = await newKey();
  const answer = await fetchToken(id, secret, key);
  clientId = id;
  token = answer.access_token;
  dpopKey = key;
  // RFC 9449 §5: token_type says whether the proof bound the token.
  bound = String(answer.token_type).toLowerCase() === 'dpop';
  granted = answer.scope.split(' ');
}

/** The token's session id (its `sid` claim): what Log out kills. */
function sidOfToken() {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sid ?? null;
  } catch {
    return null;
  }
}

/**
 * Log out: with sessions:kill the console's own session is killed on the server (as the CLI's
 * logout does), so it leaves no live admin session behind; then everything is forgotten.
 */
export async function logout() {
  const sid = token && can('sessions:kill') ? sidOfToken() : null;
  if (sid) {
    try {
      await send('DELETE', `admin/sessions/${encodeURIComponent(sid)}`);
    } catch {
      // unreachable server: the token still expires on its own
    }
  }
  forget();
}

/** Forgets the token, its key and the granted scopes (a 401 ends the session without a call). */
export function forget() {
  clientId = null;
  token = null;
  dpopKey = null;
  bound = false;
  granted = [];
}

export const whoAmI = () => clientId;
export const can = (scope) => granted.includes(scope);
export const setLoggedOutHandler = (fn) => { onLoggedOut = fn; };

async function send(method, path, body) {
  const headers = bound ? { Authorization: `DPoP ${token}`, DPoP: await proof(dpopKey, method, url(path), token) } : { Authorization: `Bearer ${token}` };
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(url(path), init);
}

/**
 * One admin API call. A 401 means the token expired or was killed: the console forgets it and
 * goes back to the login form (it holds no secret to log in again with).
 */
export async function api(method, path, body) {
  if (!token) throw new ApiError(401, { error: 'invalid_token', error_description: 'not logged in' });
  const res = await send(method, path, body);
  const answer = await readJson(res);
  if (res.status === 401) {
    forget();
    onLoggedOut(answer.error === 'invalid_dpop_proof'
      ? `The server refused this tab's DPoP proof (${answer.error_description}): log in again.` : 'Your session ended: log in again.');
  }
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer;
}

/** A query string from the non-empty fields of an object. */
export function query(params) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const s = q.toString();
  return s ? `?${s}` : '';
}
