import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import request from 'supertest';
import {
  API,
  AT_TYPE,
  ISSUER,
  JWT_TYPE,
  adminToken,
  claims,
  exchange,
  introspect,
  startSts,
  testRegistry,
  tombstones,
  type TestSts,
} from '../helpers/sts.js';
import { expectRefused } from '../helpers/responses.js';
import { startUpstreamIdp, type UpstreamIdp } from '../helpers/upstream-idp.js';

describe('on-behalf-of: a user token from oidc-provider exchanged by an agent', () => {
  let idp: UpstreamIdp;
  let rogue: UpstreamIdp;
  let sts: TestSts;
  let admin: string;
  /** agent-sts runs on a clock the test can move forward (to expire a user token without sleeping). */
  let skewMs = 0;

  beforeAll(async () => {
    idp = await startUpstreamIdp({ audience: ISSUER });
    rogue = await startUpstreamIdp({ audience: ISSUER });
    sts = await startSts({
      clock: { nowMs: () => Date.now() + skewMs },
      registry: testRegistry({
        trustedIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audience: ISSUER, agents: ['billing-agent'] }],
      }),
    });
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    await sts?.close();
    await idp?.close();
    await rogue?.close();
  });

  const obo = (agent: string, userToken: string, scope = 'invoices:read') => exchange(sts, agent, userToken, API, scope);
  const adminGet = (path: string) => request(sts.app).get(path).set('Authorization', `Bearer ${admin}`);

  /**
   * The exchange is refused with exactly 400 and `code`, nothing in Redis changed (kill tombstones
   * included), no token issued, one token.denied event.
   */
  async function refusedKeepingTombstones(send: () => PromiseLike<request.Response>, code: string) {
    const tombs = await tombstones(sts);
    await expectRefused(sts, send, 400, code);
    expect(await tombstones(sts)).toEqual(tombs);
  }

  it('the IdP issues real RFC 9068 user access tokens for agent-sts', async () => {
    const token = await idp.userToken('alice');
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.issuer, audience: ISSUER, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'agent-portal', scope: 'invoices:read invoices:write' });
  });

  it('billing-agent exchanges a user token: a new root session for the user, the agent as actor', async () => {
    const user = await idp.userToken('alice', { expiresInSeconds: 60 });
    const userExp = claims(user).exp as number;
    const res = await obo('billing-agent', user);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'invoices:read', issued_token_type: AT_TYPE });

    const token = res.body.access_token as string;
    const c = claims(token);
    expect(c).toMatchObject({ iss: ISSUER, sub: 'alice', aud: API, client_id: 'billing-agent', scope: 'invoices:read', act: { sub: 'billing-agent' } });
    // The user's token lives 60 s, the agent's limit is 300 s: the user's expiry wins.
    expect(c.exp).toBeLessThanOrEqual(userExp);
    expect(c.exp).toBeLessThanOrEqual((c.iat as number) + 300);
    expect(res.body.expires_in).toBeLessThanOrEqual(60);

    const sid = c.sid as string;
    const intro = await introspect(sts, token);
    expect(intro.status).toBe(200);
    expect(intro.body).toMatchObject({
      active: true, iss: ISSUER, sub: 'alice', aud: API, client_id: 'billing-agent', scope: 'invoices:read',
      act: { sub: 'billing-agent' }, sid, exp: c.exp, token_type: 'Bearer',
    });

    const one = await adminGet(`/admin/sessions/${sid}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ sid, parent: null, depth: 0, agent: 'billing-agent', sub: 'alice', act: { sub: 'billing-agent' }, children: [] });

    const listed = await adminGet('/admin/sessions?sub=alice');
    expect(listed.status).toBe(200);
    expect(listed.body.sessions).toEqual([
      expect.objectContaining({ sid, parent: null, depth: 0, agent: 'billing-agent', sub: 'alice', act: { sub: 'billing-agent' }, aud: API, scope: 'invoices:read' }),
    ]);
  });

  it("a long-lived user token still yields at most the agent's maxTokenTtlSeconds", async () => {
    const user = await idp.userToken('bob', { expiresInSeconds: 3_600 });
    const res = await obo('billing-agent', user);
    expect(res.status).toBe(200);
    const c = claims(res.body.access_token);
    expect(c.exp).toBe((c.iat as number) + 300);
    expect(c.exp).toBeLessThan(claims(user).exp as number);
  });

  it('the on-behalf-of token can be delegated further: billing-agent → sub-agent, act nested', async () => {
    const user = await idp.userToken('carol');
    const parent = await obo('billing-agent', user, 'invoices:read invoices:write');
    expect(parent.status).toBe(200);
    const parentClaims = claims(parent.body.access_token);

    const child = await exchange(sts, 'sub-agent', parent.body.access_token, API, 'invoices:read');
    expect(child.status).toBe(200);
    const c = claims(child.body.access_token);
    expect(c).toMatchObject({ sub: 'carol', client_id: 'sub-agent', aud: API, scope: 'invoices:read', act: { sub: 'sub-agent', act: { sub: 'billing-agent' } } });
    expect(c.exp).toBeLessThanOrEqual(parentClaims.exp as number);

    const intro = await introspect(sts, child.body.access_token);
    expect(intro.body).toMatchObject({ active: true, sub: 'carol', client_id: 'sub-agent', act: { sub: 'sub-agent', act: { sub: 'billing-agent' } } });

    const tree = await adminGet(`/admin/sessions/${parentClaims.sid as string}`);
    expect(tree.body).toMatchObject({
      sid: parentClaims.sid, parent: null, depth: 0,
      children: [{ sid: c.sid, parent: parentClaims.sid, depth: 1, agent: 'sub-agent', sub: 'carol', children: [] }],
    });
  });

  describe('refusals: exact error, no Redis change', () => {
    it('an agent not listed for that issuer (sub-agent) → invalid_grant', async () => {
      const user = await idp.userToken('dave');
      await refusedKeepingTombstones(() => obo('sub-agent', user), 'invalid_grant');
    });

    it('a user token for another audience → invalid_grant', async () => {
      const user = await idp.userToken('dave', { audience: API });
      expect(claims(user).aud).toBe(API);
      await refusedKeepingTombstones(() => obo('billing-agent', user), 'invalid_grant');
    });

    it('an expired user token → invalid_grant (accepted just before it expired)', async () => {
      const user = await idp.userToken('erin', { expiresInSeconds: 30 });
      expect((await obo('billing-agent', user)).status).toBe(200);
      skewMs = 30_000 + 60_000; // past its exp and any clock-skew leeway
      try {
        await refusedKeepingTombstones(() => obo('billing-agent', user), 'invalid_grant');
      } finally {
        skewMs = 0;
      }
    });

    it('an ID token presented as an access token → invalid_grant', async () => {
      const id = await idp.idToken('frank');
      // Everything but its type matches: signed by the trusted IdP, iss and aud as agent-sts expects.
      const { payload, protectedHeader } = await jwtVerify(id, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.issuer, audience: ISSUER });
      expect(payload.sub).toBe('frank');
      expect(protectedHeader.typ).not.toBe('at+jwt');
      await refusedKeepingTombstones(() => obo('billing-agent', id), 'invalid_grant');
    });

    it('an ID token relabelled as a generic JWT (subject_token_type ...:jwt) → invalid_grant: it grants no scope', async () => {
      const id = await idp.idToken('frank');
      await refusedKeepingTombstones(() => exchange(sts, 'billing-agent', id, API, 'invoices:read', { subject_token_type: JWT_TYPE }), 'invalid_grant');
    });

    it('a token from an issuer not in the registry → invalid_grant', async () => {
      const user = await rogue.userToken('grace');
      expect(claims(user)).toMatchObject({ iss: rogue.issuer, aud: ISSUER, sub: 'grace' });
      await refusedKeepingTombstones(() => obo('billing-agent', user), 'invalid_grant');
    });

    it('a token whose signature was tampered with → invalid_grant', async () => {
      const [h, p, s] = (await idp.userToken('heidi')).split('.') as [string, string, string];
      const sig = Buffer.from(s, 'base64url');
      sig[10] = sig[10]! ^ 0xff;
      await refusedKeepingTombstones(() => obo('billing-agent', `${h}.${p}.${sig.toString('base64url')}`), 'invalid_grant');
    });

    it('a token whose claims were altered (sub swapped, signature kept) → invalid_grant', async () => {
      const [h, p, s] = (await idp.userToken('ivan')).split('.') as [string, string, string];
      const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' })).toString('base64url');
      await refusedKeepingTombstones(() => obo('billing-agent', `${h}.${forged}.${s}`), 'invalid_grant');
    });

    it("a scope outside the agent's entitlement → invalid_scope", async () => {
      const user = await idp.userToken('judy', { scope: 'invoices:read invoices:write reports:read' });
      await refusedKeepingTombstones(() => obo('billing-agent', user, 'invoices:read reports:read'), 'invalid_scope');
    });

    it("a scope beyond what the user's token grants → invalid_scope (attenuation applies to the user's token too)", async () => {
      const user = await idp.userToken('judy', { scope: 'invoices:read' });
      expect(claims(user).scope).toBe('invoices:read');
      await refusedKeepingTombstones(() => obo('billing-agent', user, 'invoices:write'), 'invalid_scope');
    });
  });

  it('an admin kill of the agent (revoke-sessions) kills its on-behalf-of sessions', async () => {
    const user = await idp.userToken('mallory');
    const res = await obo('billing-agent', user);
    expect(res.status).toBe(200);
    const token = res.body.access_token as string;
    expect((await introspect(sts, token)).body.active).toBe(true);

    const kill = await request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`);
    expect(kill.status).toBe(200);
    expect(kill.body.revoked).toBeGreaterThanOrEqual(1);

    expect((await introspect(sts, token)).body).toEqual({ active: false });
    expect((await adminGet('/admin/sessions?sub=mallory')).body).toEqual({ sessions: [] });
    expect((await adminGet('/admin/sessions?agent=billing-agent')).body).toEqual({ sessions: [] });
    expect(await sts.redis!.exists(sts.keys!.session(claims(token).sid as string))).toBe(0);
  });
});
