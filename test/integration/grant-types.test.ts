import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { expectRefused, ok } from '../helpers/responses.js';
import {
  ADMIN_AUD, API, AT_TYPE, basic, claims, EXCHANGE, form, introspect, OTHER_API, startSts, testRegistry, type TestSts,
} from '../helpers/sts.js';

/**
 * Issue 26 (grants plug in) and issue 21 (what third-party clients send), against real Redis and
 * the live registry: a parameter sent empty is absent (RFC 6749 §3.2), unrecognised parameters are
 * ignored and defined ones may not repeat (erratum 5708), an agent uses only its `grantTypes`
 * (RFC 6749 §5.2 unauthorized_client), and the deprecated `tokenExchange` still works where entries
 * are written and where old records are stored.
 */

const T0 = Date.now();
const CC = 'client_credentials';
const MANAGER = 'grant-admin';
const MANAGER_SECRET = 'grant-admin-secret-0123456789abcdefgh';
const PLANNER_SECRET = 'planner-agent-secret-0123456789abcdef';
const EXCHANGER_SECRET = 'exchange-only-secret-0123456789abcdef';
const LEGACY_SECRET = 'legacy-agent-secret-0123456789abcdefg';

type Res = request.Response;

describe('grants, their parameters and the grant types an agent may use', () => {
  let sts: TestSts;
  let admin: string;

  beforeAll(async () => {
    sts = await startSts({
      live: true,
      clock: { nowMs: () => T0 },
      registry: testRegistry({
        agents: [
          { id: MANAGER, owner: 'platform', secretHash: hashSecret(MANAGER_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } },
          { id: 'planner', secretHash: hashSecret(PLANNER_SECRET), audiences: { [API]: ['invoices:read'] }, maxDelegationDepth: 1, delegates: ['exchange-only'] },
          // a sub-agent that only ever acts on delegated tokens
          { id: 'exchange-only', secretHash: hashSecret(EXCHANGER_SECRET), audiences: { [API]: ['invoices:read'] }, maxDelegationDepth: 1, grantTypes: [EXCHANGE] },
          // a file written before grantTypes: the deprecated alias
          { id: 'legacy', secretHash: hashSecret(LEGACY_SECRET), audiences: { [API]: ['invoices:read'] }, maxDelegationDepth: 1, tokenExchange: true },
        ],
      }),
    });
    const res = await request(sts.app).post('/token').set('Authorization', basic(MANAGER, MANAGER_SECRET)).type('form')
      .send({ grant_type: CC, resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    admin = res.body.access_token as string;
  });
  afterAll(async () => {
    await sts?.close();
  });

  const token = (body: string, auth = basic('billing-agent')) => request(sts.app).post('/token').set('Authorization', auth).type('form').send(body);
  const refused = (send: () => PromiseLike<Res>, status: number, error: string) => expectRefused(sts, send, status, error);
  const adminApi = {
    get: (path: string) => request(sts.app).get(`/admin${path}`).set('Authorization', `Bearer ${admin}`),
    post: (path: string, body: object) => request(sts.app).post(`/admin${path}`).set('Authorization', `Bearer ${admin}`).send(body),
    patch: (path: string, body: object) => request(sts.app).patch(`/admin${path}`).set('Authorization', `Bearer ${admin}`).send(body),
  };
  const plannerToken = async () => ok(token(form([['grant_type', CC], ['resource', API]]), basic('planner', PLANNER_SECRET)));
  const exchangeAs = (auth: string, subject: string) =>
    token(form([['grant_type', EXCHANGE], ['subject_token', subject], ['subject_token_type', AT_TYPE], ['resource', API], ['scope', 'invoices:read']]), auth);

  describe('RFC 6749 §3.2: a parameter sent without a value is treated as omitted', () => {
    it('scope= (empty) → 200 with the whole entitlement, exactly as no scope', async () => {
      const empty = await token(form([['grant_type', CC], ['resource', API], ['scope', '']]));
      const absent = await token(form([['grant_type', CC], ['resource', API]]));
      for (const r of [empty, absent]) {
        expect(r.status).toBe(200);
        expect(r.body.scope).toBe('invoices:read invoices:write');
        expect(claims(r.body.access_token as string)).toMatchObject({ aud: API, scope: 'invoices:read invoices:write' });
      }
    });

    it('resource= or audience= (empty) beside a target → 200 for that one target', async () => {
      const a = await token(form([['grant_type', CC], ['resource', ''], ['audience', OTHER_API]]));
      const b = await token(form([['grant_type', CC], ['resource', API], ['audience', ''], ['scope', 'invoices:read']]));
      expect([a.status, claims(a.body.access_token as string).aud, a.body.scope]).toEqual([200, OTHER_API, 'reports:read']);
      expect([b.status, claims(b.body.access_token as string).aud, b.body.scope]).toEqual([200, API, 'invoices:read']);
    });

    it('grant_type= (empty) is a missing grant_type; token= at /introspect and /revoke is a missing token', async () => {
      const res = await refused(() => token(form([['grant_type', ''], ['resource', API]])), 400, 'invalid_request');
      expect(res.body.error_description).toBe("missing parameter 'grant_type'");
      const intro = await request(sts.app).post('/introspect').set('Authorization', basic(API)).type('form').send('token=');
      expect({ status: intro.status, body: intro.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: "missing parameter 'token'" } });
      const rev = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send('token=');
      expect({ status: rev.status, body: rev.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: "missing parameter 'token'" } });
    });
  });

  describe('RFC 6749 §3.2 with erratum 5708: defined parameters at most once, unrecognised ones ignored', () => {
    it('unknown_x=1&unknown_x=2 is ignored at /token, /introspect and /revoke', async () => {
      const issued = await token(`${form([['grant_type', CC], ['resource', API], ['scope', 'invoices:read']])}&unknown_x=1&unknown_x=2`);
      expect(issued.status).toBe(200);
      const t = issued.body.access_token as string;
      const intro = await request(sts.app).post('/introspect').set('Authorization', basic(API)).type('form').send(`${form([['token', t]])}&unknown_x=1&unknown_x=2`);
      expect(intro.body).toMatchObject({ active: true, client_id: 'billing-agent' });
      const rev = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send(`${form([['token', t]])}&unknown_x=1&unknown_x=2`);
      expect(rev.status).toBe(200);
      expect((await introspect(sts, t)).body).toEqual({ active: false });
    });

    it('a parameter another grant defines is unrecognised here: subject_token twice in a client_credentials request is ignored', async () => {
      const r = await token(form([['grant_type', CC], ['resource', API], ['subject_token', 'a'], ['subject_token', 'b']]));
      expect(r.status).toBe(200);
    });

    it.each([
      ['scope (client_credentials defines it)', [['grant_type', CC], ['resource', API], ['scope', 'invoices:read'], ['scope', 'invoices:read']], 'scope'],
      ['grant_type (the endpoint defines it)', [['grant_type', CC], ['grant_type', CC], ['resource', API]], 'grant_type'],
      ['client_id (client authentication defines it)', [['grant_type', CC], ['client_id', 'billing-agent'], ['client_id', 'billing-agent'], ['resource', API]], 'client_id'],
      ['requested_token_type (token exchange defines it)', [['grant_type', EXCHANGE], ['subject_token', 'x'], ['subject_token_type', AT_TYPE], ['requested_token_type', AT_TYPE], ['requested_token_type', AT_TYPE], ['resource', API], ['scope', 'invoices:read']], 'requested_token_type'],
    ] as [string, [string, string][], string][])('repeated %s → 400 invalid_request naming it, nothing written', async (_name, pairs, name) => {
      const res = await refused(() => token(form(pairs)), 400, 'invalid_request');
      expect(res.body.error_description).toBe(`parameter '${name}' was repeated`);
    });

    it('resource and audience may repeat, naming one target', async () => {
      const r = await token(form([['grant_type', CC], ['resource', API], ['resource', API], ['audience', API], ['scope', 'invoices:read']]));
      expect([r.status, claims(r.body.access_token as string).aud]).toEqual([200, API]);
    });

    it('token_type_hint twice at /introspect → 400 naming it', async () => {
      const res = await request(sts.app).post('/introspect').set('Authorization', basic(API)).type('form')
        .send(form([['token', 'x'], ['token_type_hint', 'access_token'], ['token_type_hint', 'access_token']]));
      expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: "parameter 'token_type_hint' was repeated" } });
    });
  });

  describe('grantTypes: an agent uses only the grant types it is allowed (RFC 6749 §5.2)', () => {
    it('exchange-only: exchanging a token delegated to it → 200; client_credentials → 400 unauthorized_client, nothing written', async () => {
      const res = await exchangeAs(basic('exchange-only', EXCHANGER_SECRET), await plannerToken());
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token as string)).toMatchObject({ client_id: 'exchange-only', act: { sub: 'exchange-only' } });
      // (the exchange above wrote its credential's first lastUsed: the refusal below writes nothing)
      const denied = await refused(() => token(form([['grant_type', CC], ['resource', API]]), basic('exchange-only', EXCHANGER_SECRET)), 400, 'unauthorized_client');
      expect(denied.body.error_description).toBe("agent 'exchange-only' may not use the grant type client_credentials");
      expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', agent: 'exchange-only', grant: CC, reason: 'grant_type_not_allowed' });
    });

    it('an unknown grant type is still unsupported_grant_type, whatever the agent may use', async () => {
      await refused(() => token(form([['grant_type', 'password'], ['resource', API]])), 400, 'unsupported_grant_type');
    });

    it.each([
      ['a grant type nobody offers', ['client_credentials', 'password']],
      ['none at all', []],
      ['one twice', ['client_credentials', 'client_credentials']],
      ['not a list', 'client_credentials'],
    ])('create with grantTypes %s → 400 naming grantTypes, nothing created', async (_name, grantTypes) => {
      const res = await adminApi.post('/agents', { id: 'bad-grants', owner: 'x', audiences: { [API]: ['invoices:read'] }, grantTypes });
      expect(res.status).toBe(400);
      expect(res.body.error_description).toMatch(/^grantTypes/);
      expect((await adminApi.get('/agents/bad-grants')).status).toBe(404);
    });
  });

  describe('the deprecated tokenExchange alias', () => {
    it('in the registry file: tokenExchange true reads as both grant types, shown as grantTypes only; the agent exchanges', async () => {
      const view = (await adminApi.get('/agents/legacy')).body;
      expect(view.grantTypes).toEqual([CC, EXCHANGE]);
      expect(view).not.toHaveProperty('tokenExchange');
      const own = await ok(token(form([['grant_type', CC], ['resource', API]]), basic('legacy', LEGACY_SECRET)));
      expect((await exchangeAs(basic('legacy', LEGACY_SECRET), own)).status).toBe(200);
    });

    it('in a create body: tokenExchange true adds the token-exchange grant type', async () => {
      const res = await adminApi.post('/agents', { id: 'created-legacy', owner: 'x', audiences: { [API]: ['invoices:read'] }, tokenExchange: true });
      expect(res.status).toBe(201);
      expect(res.body.grantTypes).toEqual([CC, EXCHANGE]);
      expect(res.body).not.toHaveProperty('tokenExchange');
    });

    it('in a PATCH: true adds it to the grant types the agent has, false removes it; the token endpoint follows', async () => {
      const subject = await plannerToken();
      const asPlanner = basic('planner', PLANNER_SECRET);
      expect((await exchangeAs(asPlanner, subject)).status).toBe(400);

      const on = await adminApi.patch('/agents/planner', { tokenExchange: true });
      expect(on.status).toBe(200);
      expect(on.body.grantTypes).toEqual([CC, EXCHANGE]);
      expect((await exchangeAs(asPlanner, subject)).status).toBe(200);
      expect((await adminApi.patch('/agents/planner', { tokenExchange: true })).body.grantTypes).toEqual([CC, EXCHANGE]);

      const off = await adminApi.patch('/agents/planner', { tokenExchange: false });
      expect(off.body.grantTypes).toEqual([CC]);
      await refused(() => exchangeAs(asPlanner, subject), 400, 'unauthorized_client');
      // applied after grantTypes in the same body
      expect((await adminApi.patch('/agents/planner', { grantTypes: [CC], tokenExchange: true })).body.grantTypes).toEqual([CC, EXCHANGE]);
      expect((await adminApi.patch('/agents/planner', { grantTypes: [CC] })).body.grantTypes).toEqual([CC]);
    });

    it.each([['a string', 'yes'], ['null', null]])('in a PATCH, tokenExchange %s → 400 naming it, nothing changed', async (_name, value) => {
      const before = (await adminApi.get('/agents/planner')).body;
      const res = await adminApi.patch('/agents/planner', { tokenExchange: value });
      expect(res.status).toBe(400);
      expect(res.body.error_description).toMatch(/^tokenExchange: /);
      expect((await adminApi.get('/agents/planner')).body).toEqual(before);
    });

    it('a record stored before grantTypes (tokenExchange in the store) reads as both grant types; its next change stores grantTypes', async () => {
      const { store, live } = sts.deps.liveRegistry!;
      const old = JSON.parse((await store.get('agent', 'leaf-agent'))!) as Record<string, unknown>;
      delete old.grantTypes;
      await store.put('agent', 'leaf-agent', JSON.stringify({ ...old, tokenExchange: true }));
      await live.refresh('agent', 'leaf-agent');
      expect((await sts.deps.registry.agent('leaf-agent'))?.grantTypes).toEqual([CC, EXCHANGE]);
      expect((await adminApi.get('/agents/leaf-agent')).body.grantTypes).toEqual([CC, EXCHANGE]);

      const patched = await adminApi.patch('/agents/leaf-agent', { description: 'changed' });
      expect(patched.body.grantTypes).toEqual([CC, EXCHANGE]);
      const rewritten = JSON.parse((await store.get('agent', 'leaf-agent'))!) as Record<string, unknown>;
      expect(rewritten).toMatchObject({ grantTypes: [CC, EXCHANGE], description: 'changed' });
      expect(rewritten).not.toHaveProperty('tokenExchange');
    });
  });
});
