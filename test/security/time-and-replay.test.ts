import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { attackerKey, signWithHeader, type AttackerKey } from '../helpers/attack.js';
import { API, claims, exchange, ISSUER, snapshot, startSts, testRegistry, type StoreKind, type TestSts } from '../helpers/sts.js';
import { expectRefused } from '../helpers/responses.js';

/**
 * Time and replay: client assertions and trusted-issuer subject tokens that are expired, not yet
 * valid or issued in the future, on both sides of the 10 s leeway (8 s accepted, 60 s refused),
 * all on the STS's fake clock; and client-assertion jti replay beyond the plain "same assertion
 * twice" case. Each test has its own instance: what one test leaves (a replay id kept for a couple
 * of seconds of real time, as Redis keeps it) can never expire in the middle of another's
 * "nothing written" check.
 */

const UPSTREAM = 'https://idp.time.test';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe.each<StoreKind>(['redis', 'memory'])('time and replay (%s store)', (store) => {
  let sts: TestSts;
  /** A whole second a little ahead of real time, taken per test, so Redis expiries (absolute) stay in the future. */
  let T0: number;
  let T0_S: number;
  let now: number;
  let agentKey: AttackerKey;
  let idpKey: AttackerKey;

  beforeAll(async () => {
    agentKey = await attackerKey('time-agent-key');
    idpKey = await attackerKey('time-idp-key');
  });
  beforeEach(async () => {
    T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
    T0_S = T0 / 1000;
    now = T0;
    const jwtAgent = (id: string) => ({ id, jwks: { keys: [agentKey.publicJwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60 });
    sts = await startSts({
      store,
      clock: { nowMs: () => now },
      registry: testRegistry({
        agents: [jwtAgent('jwt-agent'), jwtAgent('jwt-agent-2')],
        trustedIssuers: [{ issuer: UPSTREAM, jwks: idpKey.jwks, audience: ISSUER, agents: ['billing-agent'] }],
      }),
    });
  });
  afterEach(async () => {
    await sts.close();
  });

  /** A client assertion for `agent` with times relative to T0; `undefined` leaves a claim out. */
  function assertion(t: { exp?: number; nbf?: number; iat?: number } = {}, agent = 'jwt-agent', jti: string = randomUUID()) {
    const c: Record<string, unknown> = { iss: agent, sub: agent, aud: ISSUER, jti, exp: T0_S + (t.exp ?? 60) };
    if (t.nbf !== undefined) c.nbf = T0_S + t.nbf;
    c.iat = T0_S + (t.iat ?? 0);
    return signWithHeader({ alg: 'ES256', kid: agentKey.publicJwk.kid }, c, agentKey.privateKey);
  }
  const withAssertion = (a: string, scope = 'invoices:read') =>
    request(sts.app).post('/token').type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope, client_assertion_type: JWT_BEARER, client_assertion: a });

  /** A trusted issuer's RFC 9068 user token with times relative to T0. */
  function userToken(t: { exp?: number; nbf?: number; iat?: number } = {}) {
    const c: Record<string, unknown> = { iss: UPSTREAM, sub: 'alice', aud: ISSUER, scope: 'invoices:read', jti: randomUUID(), exp: T0_S + (t.exp ?? 300) };
    if (t.nbf !== undefined) c.nbf = T0_S + t.nbf;
    c.iat = T0_S + (t.iat ?? 0);
    return signWithHeader({ alg: 'ES256', typ: 'at+jwt', kid: idpKey.publicJwk.kid }, c, idpKey.privateKey);
  }
  const obo = (token: string) => exchange(sts, 'billing-agent', token, API, 'invoices:read');

  describe('client assertions: the 10 s leeway, both sides', () => {
    it.each([
      ['nbf 8 s in the future', { nbf: 8 }],
      ['iat 8 s in the future (a client clock slightly ahead)', { iat: 8 }],
      ['exp 8 s in the past (a client clock slightly behind)', { exp: -8, iat: -60 }],
    ])('%s → accepted', async (_name, t) => {
      const res = await withAssertion(await assertion(t));
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token as string).client_id).toBe('jwt-agent');
    });

    it.each([
      ['nbf 60 s in the future (not yet valid)', { nbf: 60 }],
      ['iat 60 s in the future (issued in the future)', { iat: 60 }],
    ])('%s → 401 invalid_client, nothing issued or written', async (_name, t) => {
      await expectRefused(sts, async () => withAssertion(await assertion(t)), 401, 'invalid_client');
    });

    it('an assertion refused as not-yet-valid did not spend its jti: once its nbf is reached, it authenticates', async () => {
      const a = await assertion({ nbf: 60, exp: 120 });
      await expectRefused(sts, () => withAssertion(a), 401, 'invalid_client');
      now = T0 + 60_000;
      expect((await withAssertion(a)).status).toBe(200);
    });
  });

  describe("a trusted issuer's subject token: the 10 s leeway, both sides", () => {
    it('control: a current user token is exchanged for an on-behalf-of token', async () => {
      const res = await obo(await userToken());
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token as string)).toMatchObject({ sub: 'alice', act: { sub: 'billing-agent' } });
    });

    it.each([
      ['nbf 8 s in the future', { nbf: 8 }],
      ['iat 8 s in the future', { iat: 8 }],
    ])('%s → accepted', async (_name, t) => {
      expect((await obo(await userToken(t))).status).toBe(200);
    });

    it.each([
      ['expired 60 s ago', { exp: -60, iat: -360 }],
      ['nbf 60 s in the future (not yet valid)', { nbf: 60 }],
      ['iat 60 s in the future (issued in the future)', { iat: 60 }],
    ])('%s → 400 invalid_grant, nothing issued or written', async (_name, t) => {
      await expectRefused(sts, async () => obo(await userToken(t)), 400, 'invalid_grant');
    });

    it('expired 8 s ago (inside the leeway): never yields a token that is already expired', async () => {
      const before = await snapshot(sts);
      const res = await obo(await userToken({ exp: -8, iat: -300 }));
      if (res.status === 200) {
        // Accepted inside the leeway: the new token must still have a life of its own.
        expect(res.body.expires_in).toBeGreaterThan(0);
        expect(claims(res.body.access_token as string).exp as number).toBeGreaterThan(T0_S);
      } else {
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
        expect(await snapshot(sts)).toEqual(before);
      }
    });
  });

  describe('client assertion jti replay', () => {
    /**
     * Redis keeps a spent jti for (exp + 10 s - the fake clock's now) of real time. With this
     * assertion life that is ~50 minutes, against a 20 s test timeout: however loaded the machine,
     * no replay id expires between a test's before and after snapshots.
     */
    const LONG_LIFE = { exp: 3_000 };

    it('a freshly signed assertion reusing a spent jti (new iat and exp) → 401 invalid_client, nothing written', async () => {
      const jti = randomUUID();
      expect((await withAssertion(await assertion(LONG_LIFE, 'jwt-agent', jti))).status).toBe(200);
      now = T0 + 5_000;
      await expectRefused(sts, async () => withAssertion(await assertion({ iat: 5, exp: 3_005 }, 'jwt-agent', jti)), 401, 'invalid_client');
    });

    it('a jti is spent by the authentication even when the grant is then refused: the replay is refused', async () => {
      const a = await assertion(LONG_LIFE);
      const first = await withAssertion(a, 'invoices:write');
      expect({ status: first.status, error: first.body.error }).toEqual({ status: 400, error: 'invalid_scope' });
      await expectRefused(sts, () => withAssertion(a), 401, 'invalid_client');
    });

    it('a replay after the assertion expired is still refused (expired, and its jti still remembered through the leeway)', async () => {
      const a = await assertion({ exp: 30 });
      expect((await withAssertion(a)).status).toBe(200);
      now = T0 + 35_000; // inside exp + 10 s: only the jti record stops it
      await expectRefused(sts, () => withAssertion(a), 401, 'invalid_client');
      now = T0 + 120_000;
      await expectRefused(sts, () => withAssertion(a), 401, 'invalid_client');
    });

    it('jtis are per client: another agent using the same jti value is not blocked (no cross-client denial of service)', async () => {
      const jti = randomUUID();
      expect((await withAssertion(await assertion(LONG_LIFE, 'jwt-agent', jti))).status).toBe(200);
      expect((await withAssertion(await assertion(LONG_LIFE, 'jwt-agent-2', jti))).status).toBe(200);
      await expectRefused(sts, async () => withAssertion(await assertion(LONG_LIFE, 'jwt-agent-2', jti)), 401, 'invalid_client');
    });
  });
});
