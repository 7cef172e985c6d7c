import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oauth from 'oauth4webapi';
import request from 'supertest';
import { GRANT_TYPES, ID_JAG_PROFILE } from 'agent-sts-gate/protocol';
import { assertionId } from '../../src/clients/authenticate.js';
import { listeningSts } from '../helpers/http.js';
import { startIdJagIdp, type IdJagClaims, type IdJagIdp } from '../helpers/id-jag-idp.js';
import { expectRefused, ok, sidOf } from '../helpers/responses.js';
import { adminToken, API, basic, claims, exchange, introspect, OTHER_API, SECRETS, snapshot, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * The ID-JAG grant (RFC 7523 jwt-bearer, draft-ietf-oauth-identity-assertion-authz-grant) as an
 * MCP client would drive it: an enterprise IdP stand-in signs ID-JAGs with jose and serves its
 * JWKS on loopback; oauth4webapi discovers agent-sts and presents them; agent-sts runs on a real
 * Redis on a clock the test moves. Each refusal: exact error and reason, nothing written.
 */
const JWT_BEARER = GRANT_TYPES.jwtBearer;
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let idp: IdJagIdp;
let rogue: IdJagIdp;
let oboOnly: IdJagIdp;
let env: Awaited<ReturnType<typeof listeningSts>>;
let sts: TestSts;
let as: oauth.AuthorizationServer;
let skewMs = 0;

beforeAll(async () => {
  [idp, rogue, oboOnly] = await Promise.all([startIdJagIdp(), startIdJagIdp(), startIdJagIdp()]);
  env = await listeningSts({
    clock: { nowMs: () => Date.now() + skewMs },
    registry: (issuer) => {
      const doc = testRegistry({
        trustedIssuers: [
          { issuer: idp.issuer, jwksUri: idp.jwksUri, accepts: ['id-jag'], agents: ['billing-agent'] },
          // trusted for on-behalf-of only (accepts defaults to subject tokens)
          { issuer: oboOnly.issuer, jwks: oboOnly.jwks, audience: issuer, agents: ['billing-agent'] },
        ],
      });
      for (const a of doc.agents!) if (a.id === 'billing-agent' || a.id === 'outsider-agent') a.grantTypes!.push(JWT_BEARER);
      return doc;
    },
  });
  sts = env.sts;
  const issuer = new URL(env.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
afterAll(async () => {
  await env?.close();
  await Promise.all([idp?.close(), rogue?.close(), oboOnly?.close()]);
});

const idJag = (claims: Partial<IdJagClaims> = {}, header?: Record<string, unknown>, from = idp) =>
  from.idJag({ aud: env.issuer, client_id: 'billing-agent', ...claims }, header);

/** oauth4webapi presents the grant as `agent` (client_secret_basic) and validates the response. */
async function present(assertion: string, agent = 'billing-agent', extra: Record<string, string> = {}) {
  const client: oauth.Client = { client_id: agent };
  const res = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(SECRETS[agent]!), JWT_BEARER, { assertion, ...extra }, insecure);
  return oauth.processGenericTokenEndpointResponse(as, client, res);
}

/** The same request through supertest (a refusal's body, events and Redis are asserted by expectRefused). */
const post = (assertion: string | undefined, agent = 'billing-agent', extra: Record<string, string> = {}) =>
  request(sts.app).post('/token').set('Authorization', basic(agent)).type('form')
    .send({ grant_type: JWT_BEARER, ...(assertion ? { assertion } : {}), ...extra });

/** Refused with `status`/`error`, nothing written, and the token.denied record names `reason`. */
async function refused(send: () => PromiseLike<request.Response>, error: string, reason: string, status = 400) {
  await expectRefused(sts, send, status, error);
  expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', error, reason });
}

const replayKey = (jti: string, iss = idp.issuer) => sts.keys!.usedOnce('id-jag', assertionId(iss, jti));

describe('metadata', () => {
  it('grant_types_supported lists jwt-bearer, authorization_grant_profiles_supported the ID-JAG profile', () => {
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials', GRANT_TYPES.tokenExchange, JWT_BEARER]));
    expect(as.authorization_grant_profiles_supported).toEqual([ID_JAG_PROFILE]);
  });
});

describe('an ID-JAG for a user of the trusted IdP', () => {
  it('yields a root session on behalf of the user, the agent as client and actor, introspecting active', async () => {
    const assertion = await idJag({ sub: 'alice', lifetimeSeconds: 120 });
    const t = await present(assertion);
    expect(t).toMatchObject({ token_type: 'bearer', scope: 'invoices:read invoices:write', resource: API });
    const c = claims(t.access_token);
    expect(c).toMatchObject({ iss: env.issuer, sub: 'alice', aud: API, client_id: 'billing-agent', scope: 'invoices:read invoices:write', act: { sub: 'billing-agent' } });
    // The ID-JAG lives 120 s, the agent's tokens 300 s: the ID-JAG's expiry wins.
    expect(c.exp).toBe(claims(assertion).exp);
    expect((await introspect(sts, t.access_token)).body).toMatchObject({ active: true, sub: 'alice', client_id: 'billing-agent', act: { sub: 'billing-agent' } });

    // The jti is spent in its own key space until the ID-JAG could no longer verify (exp + the 10 s leeway).
    const jti = claims(assertion).jti as string;
    expect(await sts.redis!.get(replayKey(jti))).toBe('1');
    // (PX counts from Redis's own receipt of the SET, a few ms after the request's arrival)
    const rememberUntil = ((claims(assertion).exp as number) + 10) * 1000;
    expect(await sts.redis!.pexpiretime(replayKey(jti))).toBeGreaterThanOrEqual(rememberUntil);
    expect(await sts.redis!.pexpiretime(replayKey(jti))).toBeLessThan(rememberUntil + 10_000);
    expect(sts.events.events.filter((e) => e.type === 'token.issued').at(-1)).toMatchObject({
      grant: JWT_BEARER, sid: c.sid, sub: 'alice', agent: 'billing-agent', act: { sub: 'billing-agent' }, assertion: { iss: idp.issuer, jti },
    });
  });

  it("a long-lived ID-JAG still yields at most the agent's maxTokenTtlSeconds", async () => {
    const t = await present(await idJag({ lifetimeSeconds: 1_200 }));
    const c = claims(t.access_token);
    expect(c.exp).toBe((c.iat as number) + 300);
  });

  it("scope: the request's ∩ the ID-JAG's ∩ the agent's entitlement; absent: what the ID-JAG grants that the agent may hold", async () => {
    const wide = { scope: 'invoices:read reports:read admin:all' };
    expect((await present(await idJag(wide))).scope).toBe('invoices:read');
    expect((await present(await idJag(wide), 'billing-agent', { scope: 'invoices:read invoices:write' })).scope).toBe('invoices:read');
    expect((await present(await idJag(), 'billing-agent', { scope: 'invoices:write' })).scope).toBe('invoices:write');
  });

  it('resource: one the ID-JAG names, chosen by the request when it names several', async () => {
    const both = { resource: [API, OTHER_API], scope: 'invoices:read reports:read' };
    const t = await present(await idJag(both), 'billing-agent', { resource: OTHER_API });
    expect(claims(t.access_token)).toMatchObject({ aud: OTHER_API, scope: 'reports:read' });
    expect(t).toMatchObject({ scope: 'reports:read', resource: OTHER_API });
    await refused(async () => post(await idJag(both)), 'invalid_target', 'target_ambiguous');
  });

  it('bound by its IdP to a DPoP key (cnf.jkt): honoured with a proof of that key, the token bound to it; a proof of another key is refused', async () => {
    const client: oauth.Client = { client_id: 'billing-agent' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const jkt = await DPoP.calculateThumbprint();
    const withProof = async (assertion: string, handle: oauth.DPoPHandle) => oauth.processGenericTokenEndpointResponse(as, client,
      await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(SECRETS['billing-agent']!), JWT_BEARER, { assertion }, { DPoP: handle, ...insecure }));
    const t = await withProof(await idJag({ cnf: { jkt } }), DPoP);
    expect(t.token_type).toBe('dpop');
    expect(claims(t.access_token).cnf).toEqual({ jkt });
    const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    await expect(withProof(await idJag({ cnf: { jkt } }), other)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', reason: 'dpop_key_mismatch' });
  });

  it('a refused request leaves the ID-JAG unspent: presented again correctly, it is honoured', async () => {
    const assertion = await idJag({ scope: 'invoices:read' });
    await refused(() => post(assertion, 'billing-agent', { scope: 'invoices:write' }), 'invalid_scope', 'scope_not_in_assertion');
    expect((await present(assertion)).scope).toBe('invoices:read');
  });
});

describe('refusals: exact error and reason, nothing written', () => {
  it('replayed jti: the second presentation is refused (the spent key unchanged)', async () => {
    const assertion = await idJag();
    await present(assertion);
    const before = await snapshot(sts);
    expect(before[replayKey(claims(assertion).jti as string)]).toBeDefined();
    await refused(() => post(assertion), 'invalid_grant', 'assertion_replayed');
  });

  it('wrong typ: a JWT that is not typed oauth-id-jag+jwt, or not typed at all', async () => {
    await refused(async () => post(await idJag({}, { typ: 'JWT' })), 'invalid_grant', 'assertion_wrong_type');
    await refused(async () => post(await idJag({}, { typ: 'at+jwt' })), 'invalid_grant', 'assertion_wrong_type');
    await refused(async () => post(await idJag({}, { typ: undefined })), 'invalid_grant', 'assertion_wrong_type');
  });

  it('wrong aud: another server, or an array naming this server and another', async () => {
    await refused(async () => post(await idJag({ aud: 'https://other-as.example.com' })), 'invalid_grant', 'assertion_wrong_audience');
    await refused(async () => post(await idJag({ aud: [env.issuer, 'https://other-as.example.com'] })), 'invalid_grant', 'assertion_invalid');
  });

  it('expired: past exp and the leeway (jose), or inside the leeway (no dead token is issued)', async () => {
    const short = await idJag({ lifetimeSeconds: 30 });
    const late = await idJag({ lifetimeSeconds: 30 });
    skewMs = 31_000; // 1 s past exp, inside the 10 s leeway
    try {
      await refused(() => post(short), 'invalid_grant', 'assertion_expired');
      skewMs = 60_000;
      await refused(() => post(late), 'invalid_grant', 'assertion_expired');
    } finally {
      skewMs = 0;
    }
  });

  it('issued in the future, or living longer than 30 minutes', async () => {
    await refused(async () => post(await idJag({ iat: Math.floor(Date.now() / 1000) + 120 })), 'invalid_grant', 'assertion_invalid');
    await refused(async () => post(await idJag({ lifetimeSeconds: 1_801 })), 'invalid_grant', 'assertion_too_long_lived');
  });

  it('client_id naming another client than the authenticated agent', async () => {
    await refused(async () => post(await idJag({ client_id: 'outsider-agent' })), 'invalid_grant', 'client_id_mismatch');
  });

  it('a resource the agent is not entitled to; a resource the ID-JAG does not grant; no resource at all', async () => {
    await refused(async () => post(await idJag({ resource: 'https://unlisted.example.com' })), 'invalid_target', 'target_not_entitled');
    await refused(async () => post(await idJag(), 'billing-agent', { resource: OTHER_API }), 'invalid_target', 'target_not_in_assertion');
    await refused(async () => post(await idJag({ resource: undefined })), 'invalid_grant', 'assertion_no_resource');
  });

  it('a scope the ID-JAG does not grant, none the agent may hold, or no scope claim', async () => {
    await refused(async () => post(await idJag({ scope: 'invoices:read' }), 'billing-agent', { scope: 'invoices:write' }), 'invalid_scope', 'scope_not_in_assertion');
    await refused(async () => post(await idJag({ scope: 'reports:read' })), 'invalid_scope', 'scope_not_entitled');
    await refused(async () => post(await idJag({ scope: undefined })), 'invalid_grant', 'assertion_no_scope');
  });

  it('an issuer not trusted at all, and one trusted for subject tokens only', async () => {
    await refused(async () => post(await idJag({}, undefined, rogue)), 'invalid_grant', 'issuer_not_trusted');
    await refused(async () => post(await idJag({}, undefined, oboOnly)), 'invalid_grant', 'issuer_not_trusted');
  });

  it('an issuer not allowed to vouch for this agent (outsider-agent may use the grant, the IdP does not list it)', async () => {
    await refused(async () => post(await idJag({ client_id: 'outsider-agent' }), 'outsider-agent'), 'invalid_grant', 'not_allowed_for_issuer');
  });

  it('an agent not allowed the grant type: unauthorized_client', async () => {
    await refused(async () => post(await idJag({ client_id: 'sub-agent' }), 'sub-agent'), 'unauthorized_client', 'grant_type_not_allowed');
  });

  it('a tampered signature; a missing or repeated assertion', async () => {
    const [h, p, s] = (await idJag()).split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' })).toString('base64url');
    await refused(() => post(`${h}.${forged}.${s}`), 'invalid_grant', 'assertion_invalid');
    await refused(() => post(undefined), 'invalid_request', 'invalid_request');
    const a = await idJag();
    await refused(
      () => request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form').send(`grant_type=${encodeURIComponent(JWT_BEARER)}&assertion=${a}&assertion=${a}`),
      'invalid_request', 'invalid_request',
    );
  });

  it('an ID-JAG bound to a DPoP key (cnf.jkt) presented without a proof', async () => {
    await refused(async () => post(await idJag({ cnf: { jkt: 'x'.repeat(43) } })), 'invalid_grant', 'dpop_required');
  });
});

describe('the session it yields', () => {
  const adminPost = async (path: string) => request(sts.app).post(path).set('Authorization', `Bearer ${await adminToken(sts)}`);

  it('is killed with every session of the user: POST /admin/subjects/:sub/revoke-sessions (others live on)', async () => {
    const one = (await present(await idJag({ sub: 'kim' }))).access_token;
    const two = (await present(await idJag({ sub: 'kim', scope: 'invoices:read' }))).access_token;
    const other = (await present(await idJag({ sub: 'lee' }))).access_token;
    const res = await adminPost('/admin/subjects/kim/revoke-sessions');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 2 });
    for (const t of [one, two]) {
      expect((await introspect(sts, t)).body).toEqual({ active: false });
      expect(await sts.redis!.exists(sts.keys!.session(sidOf(t)))).toBe(0);
    }
    expect((await introspect(sts, other)).body.active).toBe(true);
  });

  it('is delegable by exchange with the usual narrowing: scope within it, act nested, killed with the user', async () => {
    const parent = (await present(await idJag({ sub: 'nia', scope: 'invoices:read' }))).access_token;
    await expectRefused(sts, () => exchange(sts, 'sub-agent', parent, API, 'invoices:read invoices:write'), 400, 'invalid_scope');
    await expectRefused(sts, () => exchange(sts, 'sub-agent', parent, OTHER_API, 'reports:read'), 400, 'invalid_target');
    const child = await ok(exchange(sts, 'sub-agent', parent, API, 'invoices:read'));
    const c = claims(child);
    expect(c).toMatchObject({ sub: 'nia', client_id: 'sub-agent', aud: API, scope: 'invoices:read', act: { sub: 'sub-agent', act: { sub: 'billing-agent' } } });
    expect(c.exp).toBeLessThanOrEqual(claims(parent).exp as number);
    expect((await adminPost('/admin/subjects/nia/revoke-sessions')).body).toEqual({ revoked: 2 });
    expect((await introspect(sts, child)).body).toEqual({ active: false });
  });

  it("is killed by session (DELETE /admin/sessions/:sid) and by agent (revoke-sessions; last: the agent's kill marker refuses its requests of the next moments)", async () => {
    const t = (await present(await idJag({ sub: 'max' }))).access_token;
    const del = await request(sts.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${await adminToken(sts)}`);
    expect(del.status).toBe(200);
    expect((await introspect(sts, t)).body).toEqual({ active: false });

    const u = (await present(await idJag({ sub: 'max' }))).access_token;
    expect((await adminPost('/admin/agents/billing-agent/revoke-sessions')).status).toBe(200);
    expect((await introspect(sts, u)).body).toEqual({ active: false });
  });
});
