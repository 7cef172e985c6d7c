import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import {
  adminToken, API, AT_TYPE, basic, claims, clientCredentials, exchange, introspect, ISSUER, JWT_TYPE, OTHER_API, startSts,
  type TestSts,
} from '../helpers/sts.js';
import { ANY_ISO_TIME, expectRefused, sidOf } from '../helpers/responses.js';

/**
 * RFC 8693 token exchange of live agent-sts tokens against real Redis: a child session on every
 * exchange, nested `act` on delegation, attenuation of scope, audience, expiry and depth on every
 * hop, and each refusal with its exact error code and nothing written to Redis.
 */

/** A whole second a little ahead of real time: Redis expiries (PEXPIREAT) stay in the future. */
const T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
const T0_S = T0 / 1000;
const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

type Res = request.Response;

describe('token exchange (RFC 8693) of agent-sts tokens', () => {
  let sts: TestSts;
  let now = T0;
  let admin: string;

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    await sts.close();
  });
  beforeEach(() => {
    now = T0;
  });

  const adminGet = (path: string) => request(sts.app).get(path).set('Authorization', `Bearer ${admin}`);

  /** Refused with exactly `status` and `error`, Redis unchanged, exactly one token.denied event. */
  const refused = (send: () => PromiseLike<Res>, status: number, error: string) => expectRefused(sts, send, status, error);
  /** A killed token presented for the first time in the window: reported, then refused. */
  const refusedKilled = (send: () => PromiseLike<Res>, status: number, error: string) =>
    expectRefused(sts, send, status, error, { events: 'used-after-revocation' });

  /** A successful exchange: 200, and the token it returned. */
  async function ok(res: PromiseLike<Res>): Promise<{ token: string; body: Record<string, unknown> }> {
    const r = await res;
    if (r.status !== 200) throw new Error(`exchange failed: ${r.status} ${JSON.stringify(r.body)}`);
    return { token: r.body.access_token as string, body: r.body as Record<string, unknown> };
  }

  describe('the same agent narrowing its own token', () => {
    let root: string;
    let res: Res;
    let child: string;
    /** Root's twin, for the tests that exchange more: root's children stay exactly [child] in any order. */
    let twin: string;

    beforeAll(async () => {
      now = T0;
      root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
      twin = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
      now = T0 + 5_000;
      res = await exchange(sts, 'billing-agent', root, API, 'invoices:read');
      child = res.body.access_token;
    });

    it('answers 200 with access_token, token_type Bearer, expires_in, the narrower scope and issued_token_type access_token; no-store', () => {
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type']);
      expect(res.body).toEqual({
        access_token: expect.any(String), token_type: 'Bearer', expires_in: 295, scope: 'invoices:read', issued_token_type: AT_TYPE,
      });
    });

    it('is a new session: new sid and jti, same sub and client_id, no act, exp bounded by the parent', () => {
      const c = claims(child);
      const p = claims(root);
      expect(Object.keys(c).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub']);
      expect(c).toMatchObject({ iss: ISSUER, sub: 'billing-agent', client_id: 'billing-agent', aud: API, scope: 'invoices:read', iat: T0_S + 5 });
      expect(c.act).toBeUndefined();
      expect(c.sid).not.toBe(p.sid);
      expect(c.jti).not.toBe(p.jti);
      // min(parent exp T0+300, now + 300) = the parent's.
      expect(c.exp).toBe(T0_S + 300);
      expect(c.exp).toBe(p.exp);
    });

    it('stores a child session in Redis: parent = the subject sid, depth 1, listed in the parent’s children', async () => {
      const k = sts.keys!;
      const hash = await sts.redis!.hgetall(k.session(sidOf(child)));
      expect(hash).toMatchObject({ p: sidOf(root), anc: sidOf(root), d: '1', ag: 'billing-agent', sub: 'billing-agent', act: '', sc: 'invoices:read', aud: API });
      expect(await sts.redis!.smembers(k.children(sidOf(root)))).toEqual([sidOf(child)]);
      expect(await sts.redis!.pttl(k.children(sidOf(root)))).toBeGreaterThan(0);
    });

    it('appears as the child of the subject session in the admin tree', async () => {
      const tree = await adminGet(`/admin/sessions/${sidOf(root)}`);
      expect(tree.status).toBe(200);
      expect(tree.body).toMatchObject({ sid: sidOf(root), parent: null, depth: 0 });
      expect(tree.body.children).toEqual([
        expect.objectContaining({ sid: sidOf(child), parent: sidOf(root), depth: 1, scope: 'invoices:read', act: null, children: [] }),
      ]);
    });

    it('introspects active with the narrower scope and no act; the parent is still active with its own scope', async () => {
      const c = await introspect(sts, child);
      expect(c.body).toMatchObject({ active: true, sid: sidOf(child), scope: 'invoices:read', client_id: 'billing-agent', sub: 'billing-agent' });
      expect(c.body.act).toBeUndefined();
      const p = await introspect(sts, root);
      expect(p.body).toMatchObject({ active: true, sid: sidOf(root), scope: 'invoices:read invoices:write' });
    });

    it('records a token.issued event naming the parent and the exchange grant', () => {
      expect(sts.events.events).toContainEqual({
        type: 'token.issued', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'billing-agent',
        sid: sidOf(child), parent: sidOf(root), parentAgent: 'billing-agent', agent: 'billing-agent', sub: 'billing-agent', aud: API,
        scope: ['invoices:read'], exp: T0_S + 300, ttl: expect.any(Number), grant: EXCHANGE_GRANT,
      });
    });

    it('requested_token_type jwt is echoed as issued_token_type jwt', async () => {
      const r = await ok(exchange(sts, 'billing-agent', twin, API, 'invoices:read', { requested_token_type: JWT_TYPE }));
      expect(r.body.issued_token_type).toBe(JWT_TYPE);
      expect(claims(r.token)).toMatchObject({ sub: 'billing-agent', scope: 'invoices:read' });
    });

    it('requested_token_type access_token is echoed; subject_token_type jwt is accepted for an agent-sts token', async () => {
      const a = await ok(exchange(sts, 'billing-agent', twin, API, 'invoices:read', { requested_token_type: AT_TYPE }));
      expect(a.body.issued_token_type).toBe(AT_TYPE);
      const j = await ok(exchange(sts, 'billing-agent', twin, API, 'invoices:write', { subject_token_type: JWT_TYPE }));
      expect(claims(j.token)).toMatchObject({ scope: 'invoices:write' });
      expect(await sts.redis!.hget(sts.keys!.session(sidOf(j.token)), 'p')).toBe(sidOf(twin));
    });

    it('the same scope (not narrower) is allowed: ⊆, not ⊂', async () => {
      const r = await ok(exchange(sts, 'billing-agent', twin, API, 'invoices:write invoices:read'));
      expect(r.body.scope).toBe('invoices:write invoices:read');
    });

    it('`audience` names the target as well as `resource`', async () => {
      const r = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form')
        .send({ grant_type: EXCHANGE_GRANT, subject_token: twin, subject_token_type: AT_TYPE, audience: API, scope: 'invoices:read' });
      expect(r.status).toBe(200);
      expect(claims(r.body.access_token).aud).toBe(API);
    });
  });

  describe('delegation billing-agent → sub-agent → leaf-agent', () => {
    let root: string;
    let mid: string;
    let leaf: string;
    let midRes: Record<string, unknown>;
    let leafRes: Record<string, unknown>;

    beforeAll(async () => {
      now = T0;
      root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
      now = T0 + 10_000;
      ({ token: mid, body: midRes } = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read invoices:write')));
      now = T0 + 20_000;
      ({ token: leaf, body: leafRes } = await ok(exchange(sts, 'leaf-agent', mid, API, 'invoices:read')));
    });

    it('sub-agent’s token: act {sub: sub-agent}, sub stays billing-agent, client_id sub-agent', () => {
      const c = claims(mid);
      expect(c.act).toEqual({ sub: 'sub-agent' });
      expect(c).toMatchObject({ sub: 'billing-agent', client_id: 'sub-agent', aud: API, scope: 'invoices:read invoices:write' });
    });

    it('leaf-agent’s token: act nests the prior actor exactly (RFC 8693 §4.1)', () => {
      const c = claims(leaf);
      expect(c.act).toEqual({ sub: 'leaf-agent', act: { sub: 'sub-agent' } });
      expect(c).toMatchObject({ sub: 'billing-agent', client_id: 'leaf-agent', aud: API, scope: 'invoices:read' });
    });

    it('expiry: min(parent exp, now + the agent’s ttl) on every hop', () => {
      // sub-agent at T0+10: min(T0+300, T0+10+120) = T0+130; leaf at T0+20: min(T0+130, T0+20+60) = T0+80.
      expect(claims(root).exp).toBe(T0_S + 300);
      expect(claims(mid)).toMatchObject({ iat: T0_S + 10, exp: T0_S + 130 });
      expect(midRes.expires_in).toBe(120);
      expect(claims(leaf)).toMatchObject({ iat: T0_S + 20, exp: T0_S + 80 });
      expect(leafRes.expires_in).toBe(60);
    });

    it('introspection shows the same act chain, sub and client_id', async () => {
      const r = await introspect(sts, leaf);
      expect(r.body).toMatchObject({
        active: true, sub: 'billing-agent', client_id: 'leaf-agent', scope: 'invoices:read', exp: T0_S + 80,
        act: { sub: 'leaf-agent', act: { sub: 'sub-agent' } }, sid: sidOf(leaf),
      });
    });

    it('Redis holds the chain: parents, ancestors, depths, act, and both agents indexed for the leaf session', async () => {
      const k = sts.keys!;
      const r = sts.redis!;
      expect(await r.hgetall(k.session(sidOf(mid)))).toMatchObject({ p: sidOf(root), anc: sidOf(root), d: '1', ag: 'sub-agent', sub: 'billing-agent' });
      const leafHash = await r.hgetall(k.session(sidOf(leaf)));
      expect(leafHash).toMatchObject({ p: sidOf(mid), anc: `${sidOf(root)} ${sidOf(mid)}`, d: '2', ag: 'leaf-agent', sub: 'billing-agent' });
      expect(JSON.parse(leafHash.act!)).toEqual({ sub: 'leaf-agent', act: { sub: 'sub-agent' } });
      expect(await r.smembers(k.children(sidOf(mid)))).toEqual([sidOf(leaf)]);
      expect(await r.zscore(k.agentIndex('leaf-agent'), sidOf(leaf))).toBe(String((T0_S + 80) * 1000));
      expect(await r.zscore(k.agentIndex('sub-agent'), sidOf(leaf))).toBe(String((T0_S + 80) * 1000));
      expect(await r.zscore(k.subjectIndex('billing-agent'), sidOf(leaf))).toBe(String((T0_S + 80) * 1000));
    });

    it('the admin tree nests the chain', async () => {
      const tree = await adminGet(`/admin/sessions/${sidOf(mid)}`);
      expect(tree.status).toBe(200);
      expect(tree.body).toMatchObject({ sid: sidOf(mid), parent: sidOf(root), depth: 1, agent: 'sub-agent', act: { sub: 'sub-agent' } });
      expect(tree.body.children).toEqual([
        expect.objectContaining({ sid: sidOf(leaf), parent: sidOf(mid), depth: 2, agent: 'leaf-agent', act: { sub: 'leaf-agent', act: { sub: 'sub-agent' } }, children: [] }),
      ]);
    });

    it('depth: a third hop beyond billing-agent’s maxDelegationDepth 2 → invalid_grant (leaf narrowing its depth-2 token)', async () => {
      now = T0 + 20_000;
      await refused(() => exchange(sts, 'leaf-agent', leaf, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('depth: sub-agent narrowing at depth 2 is allowed, and leaf-agent exchanging that depth-2 token → invalid_grant', async () => {
      now = T0 + 20_000;
      // A depth-1 token of its own: mid's children stay exactly [leaf] in any order.
      const mid2 = (await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read invoices:write'))).token;
      const d2 = await ok(exchange(sts, 'sub-agent', mid2, API, 'invoices:read'));
      expect(claims(d2.token).act).toEqual({ sub: 'sub-agent' });
      expect(await sts.redis!.hget(sts.keys!.session(sidOf(d2.token)), 'd')).toBe('2');
      await refused(() => exchange(sts, 'leaf-agent', d2.token, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('the limit is the smallest on the chain: a chain rooted at sub-agent (limit 5) goes deeper than 2', async () => {
      const sr = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
      const l1 = await ok(exchange(sts, 'leaf-agent', sr, API, 'invoices:read'));
      expect(claims(l1.token).act).toEqual({ sub: 'leaf-agent' });
      const l2 = await ok(exchange(sts, 'leaf-agent', l1.token, API, 'invoices:read'));
      const l3 = await ok(exchange(sts, 'leaf-agent', l2.token, API, 'invoices:read'));
      expect(await sts.redis!.hget(sts.keys!.session(sidOf(l3.token)), 'd')).toBe('3');
      // The same agent narrowing keeps the act chain as it was.
      expect(claims(l3.token).act).toEqual({ sub: 'leaf-agent' });
    });

    it('expiry is capped by the parent’s when the parent expires sooner than the agent’s ttl', async () => {
      now = T0 + 250_000;
      const s2 = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
      // min(T0+300, T0+250+120) = T0+300: 50 s left.
      expect(claims(s2.token).exp).toBe(T0_S + 300);
      expect(s2.body.expires_in).toBe(50);
      now = T0 + 270_000;
      const l2 = await ok(exchange(sts, 'leaf-agent', s2.token, API, 'invoices:read'));
      // min(T0+300, T0+270+60) = T0+300: 30 s left, never longer than the parent.
      expect(claims(l2.token).exp).toBe(T0_S + 300);
      expect(l2.body.expires_in).toBe(30);
    });
  });

  describe('refusals: exact code, nothing written to Redis', () => {
    let root: string;
    let readOnly: string;
    let mid: string;

    beforeAll(async () => {
      now = T0;
      root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
      readOnly = (await ok(exchange(sts, 'billing-agent', root, API, 'invoices:read'))).token;
      mid = (await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read invoices:write'))).token;
    });

    it('scope escalation beyond the subject token (same agent) → invalid_scope', async () => {
      await refused(() => exchange(sts, 'billing-agent', readOnly, API, 'invoices:read invoices:write'), 400, 'invalid_scope');
      await refused(() => exchange(sts, 'billing-agent', readOnly, API, 'invoices:write'), 400, 'invalid_scope');
    });

    it('scope escalation beyond the subject token (delegate) → invalid_scope', async () => {
      await refused(() => exchange(sts, 'sub-agent', readOnly, API, 'invoices:write'), 400, 'invalid_scope');
    });

    it('a scope the subject holds but the agent is not entitled to → invalid_scope (leaf-agent asking invoices:write)', async () => {
      await refused(() => exchange(sts, 'leaf-agent', mid, API, 'invoices:write'), 400, 'invalid_scope');
      await refused(() => exchange(sts, 'leaf-agent', mid, API, 'invoices:read invoices:write'), 400, 'invalid_scope');
    });

    it('a scope nobody offers → invalid_scope', async () => {
      await refused(() => exchange(sts, 'billing-agent', root, API, 'invoices:delete'), 400, 'invalid_scope');
    });

    it('a different audience than the subject token’s, even one the agent is entitled to → invalid_target', async () => {
      await refused(() => exchange(sts, 'billing-agent', root, OTHER_API, 'reports:read'), 400, 'invalid_target');
    });

    it('an audience the agent is not entitled to → invalid_target', async () => {
      await refused(() => exchange(sts, 'sub-agent', root, OTHER_API, 'reports:read'), 400, 'invalid_target');
    });

    it('outsider-agent (nobody’s delegate) exchanging billing-agent’s token → invalid_grant', async () => {
      await refused(() => exchange(sts, 'outsider-agent', root, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('leaf-agent skipping a hop (exchanging billing-agent’s token directly) → invalid_grant', async () => {
      await refused(() => exchange(sts, 'leaf-agent', root, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('delegation does not run backwards: billing-agent exchanging sub-agent’s token → invalid_grant', async () => {
      const own = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
      await refused(() => exchange(sts, 'billing-agent', own, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('no-exchange-agent (grantTypes without token exchange), even on its own token → unauthorized_client', async () => {
      const own = (await clientCredentials(sts, 'no-exchange-agent', API, 'invoices:read')).access_token;
      await refused(() => exchange(sts, 'no-exchange-agent', own, API, 'invoices:read'), 400, 'unauthorized_client');
    });

    it('a revoked subject token → invalid_grant', async () => {
      const doomed = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const rev = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: doomed });
      expect(rev.status).toBe(200);
      await refusedKilled(() => exchange(sts, 'billing-agent', doomed, API, 'invoices:read'), 400, 'invalid_grant');
      // the same session again within the window: refused, not reported twice
      await refused(() => exchange(sts, 'sub-agent', doomed, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('an expired subject token (fake clock at and past exp) → invalid_grant; one second before, it works', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      expect(claims(t).exp).toBe(T0_S + 300);
      now = T0 + 300_000;
      await refused(() => exchange(sts, 'billing-agent', t, API, 'invoices:read'), 400, 'invalid_grant');
      now = T0 + 400_000;
      await refused(() => exchange(sts, 'sub-agent', t, API, 'invoices:read'), 400, 'invalid_grant');
      now = T0 + 299_000;
      const last = await ok(exchange(sts, 'billing-agent', t, API, 'invoices:read'));
      expect(last.body.expires_in).toBe(1);
    });

    it('a descendant of an expired parent cannot outlive it: its exchange is refused too', async () => {
      now = T0;
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const c = await ok(exchange(sts, 'sub-agent', t, API, 'invoices:read'));
      now = T0 + 300_000;
      await refused(() => exchange(sts, 'sub-agent', c.token, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('a garbage subject token → invalid_grant', async () => {
      await refused(() => exchange(sts, 'billing-agent', 'not-a-token', API, 'invoices:read'), 400, 'invalid_grant');
      await refused(() => exchange(sts, 'billing-agent', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('a tampered agent-sts token (right iss and sid, wrong signature) → invalid_grant', async () => {
      const [h, p] = root.split('.');
      const forged = `${h}.${p}.${Buffer.alloc(64, 1).toString('base64url')}`;
      await refused(() => exchange(sts, 'billing-agent', forged, API, 'invoices:read'), 400, 'invalid_grant');
    });

    it('a token from another agent-sts instance with the same issuer name (unknown session) → invalid_grant', async () => {
      const other = await startSts();
      try {
        const foreign = (await clientCredentials(other, 'billing-agent', API, 'invoices:read')).access_token;
        await refused(() => exchange(sts, 'billing-agent', foreign, API, 'invoices:read'), 400, 'invalid_grant');
      } finally {
        await other.close();
      }
    });

    it('an unsupported subject_token_type → invalid_request', async () => {
      await refused(
        () => exchange(sts, 'billing-agent', root, API, 'invoices:read', { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
        400, 'invalid_request',
      );
      await refused(() => exchange(sts, 'billing-agent', root, API, 'invoices:read', { subject_token_type: 'access_token' }), 400, 'invalid_request');
    });

    it('a missing subject_token_type → invalid_request', async () => {
      await refused(() => exchange(sts, 'billing-agent', root, API, 'invoices:read', { subject_token_type: '' }), 400, 'invalid_request');
    });

    it('a missing subject_token → invalid_request', async () => {
      await refused(() => exchange(sts, 'billing-agent', '', API, 'invoices:read'), 400, 'invalid_request');
    });

    it('an unsupported requested_token_type → invalid_request', async () => {
      await refused(
        () => exchange(sts, 'billing-agent', root, API, 'invoices:read', { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }),
        400, 'invalid_request',
      );
    });

    it('a missing scope → invalid_request', async () => {
      await refused(() => exchange(sts, 'billing-agent', root, API, ''), 400, 'invalid_request');
    });

    it('an actor_token of another agent → invalid_grant (the subject holder’s, or an outsider’s)', async () => {
      const outsider = (await clientCredentials(sts, 'outsider-agent', API, 'invoices:read')).access_token;
      await refused(
        () => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: outsider, actor_token_type: AT_TYPE }),
        400, 'invalid_grant',
      );
      await refused(
        () => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: root, actor_token_type: AT_TYPE }),
        400, 'invalid_grant',
      );
    });

    it('a garbage or revoked actor_token → invalid_grant', async () => {
      await refused(
        () => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: 'garbage', actor_token_type: AT_TYPE }),
        400, 'invalid_grant',
      );
      const own = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
      await request(sts.app).post('/revoke').set('Authorization', basic('sub-agent')).type('form').send({ token: own });
      await refusedKilled(
        () => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: own, actor_token_type: AT_TYPE }),
        400, 'invalid_grant',
      );
    });

    it('an actor_token without actor_token_type → invalid_request (and the type without the token too)', async () => {
      const own = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
      await refused(() => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: own }), 400, 'invalid_request');
      await refused(() => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token_type: AT_TYPE }), 400, 'invalid_request');
      await refused(
        () => exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: own, actor_token_type: 'urn:example:unknown' }),
        400, 'invalid_request',
      );
    });

    it('an actor_token of the authenticated agent itself → success, act names it', async () => {
      const own = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
      const r = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read', { actor_token: own, actor_token_type: AT_TYPE }));
      expect(claims(r.token)).toMatchObject({ sub: 'billing-agent', client_id: 'sub-agent', act: { sub: 'sub-agent' } });
      expect(await sts.redis!.hget(sts.keys!.session(sidOf(r.token)), 'p')).toBe(sidOf(root));
    });

    it('the subject token is not consumed by the refusals: it still exchanges', async () => {
      const r = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
      expect(claims(r.token).act).toEqual({ sub: 'sub-agent' });
    });
  });
});
