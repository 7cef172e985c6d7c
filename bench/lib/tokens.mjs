// Getting tokens and session ids out of a running agent-sts through its public HTTP API only.
import { ADMIN_AUDIENCE, AGENTS, API, SECRET } from './agent-sts.mjs';
import { basic, expectStatus, request } from './http.mjs';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export const ccBody = (scope = 'read write') => ({ grant_type: 'client_credentials', resource: API, scope });
export const exchangeBody = (subjectToken, scope = 'read') => ({
  grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, resource: API, scope,
});

export async function clientCredentials(sts, agent, scope) {
  return (await expectStatus(200, sts.tokenUrl, { auth: basic(agent, SECRET), body: ccBody(scope) })).access_token;
}

export async function exchange(sts, agent, subjectToken, scope) {
  return (await expectStatus(200, sts.tokenUrl, { auth: basic(agent, SECRET), body: exchangeBody(subjectToken, scope) })).access_token;
}

export async function adminToken(sts) {
  const body = { grant_type: 'client_credentials', audience: ADMIN_AUDIENCE, scope: 'sessions:read sessions:kill' };
  return (await expectStatus(200, sts.tokenUrl, { auth: basic(AGENTS.admin, SECRET), body })).access_token;
}

/** Introspects as the resource server; returns the response body. */
export async function introspect(sts, token) {
  return expectStatus(200, sts.introspectUrl, { auth: basic(API, SECRET), body: { token } });
}

/** The session id of a live token: from introspection (`sid`), else from the JWT's payload. */
export async function sidOf(sts, token) {
  const body = await introspect(sts, token);
  if (!body.active) throw new Error('sidOf: token is not active');
  if (typeof body.sid === 'string') return body.sid;
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
  if (typeof payload.sid !== 'string') throw new Error('sidOf: neither introspection nor the token names a sid');
  return payload.sid;
}

export { request };
