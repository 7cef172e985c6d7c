import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { adminToken, API, basic, claims, clientCredentials, exchange, exchangeForm, redisState, startSts, type TestSts, snapshot } from '../helpers/sts.js';
import { expectActive, expectInactive } from '../helpers/liveness.js';
import { ANY_ISO_TIME, killedIn, killedLines, ok, sidOf } from '../helpers/responses.js';
import { AGENT_KILL_CLOCK_SKEW_MS } from '../../src/store/index.js';

/**
 * Kills against real Redis: DELETE /admin/sessions/:sid takes the session and its whole subtree,
 * POST /admin/agents/:id/revoke-sessions every session an agent holds or acts in; both exact in
 * their counts, idempotent, leaving nothing of the killed sessions in Redis, and a kill racing a
 * burst of exchanges under the same session never lets a returned token survive it.
 */

type Res = request.Response;

/** No key name and no stored value (hash field, set or index member) mentions any of these sessions. */
async function expectGoneFromRedis(sts: TestSts, tokens: string[]): Promise<void> {
  const dump = JSON.stringify(await snapshot(sts));
  for (const t of tokens) {
    const sid = sidOf(t);
    expect(await sts.redis!.exists(sts.keys!.session(sid), sts.keys!.children(sid))).toBe(0);
    expect(dump).not.toContain(sid);
  }
}

/** Who holds a token, to try exchanging it again as that agent. */
const holder = (token: string) => claims(token).client_id as string;

// Each test gets a fresh app and a fresh forest, and makes the kills it builds on itself: a kill
// is the one thing these tests cannot share, since it changes what every later test would see.
describe('DELETE /admin/sessions/:sid kills the session and its whole subtree', () => {
  let sts: TestSts;
  let admin: string;
  // R ─┬─ B1 (billing narrowed) ── B1s (sub)
  //    ├─ S1 (sub) ─┬─ L1 (leaf)
  //    │            └─ S1n (sub narrowed)
  //    └─ S2 (sub)
  // R2 ── S3 (sub)          (another tree)
  let R: string, B1: string, B1s: string, S1: string, L1: string, S1n: string, S2: string, R2: string, S3: string;

  beforeEach(async () => {
    sts = await startSts();
    admin = await adminToken(sts);
    R = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    B1 = await ok(exchange(sts, 'billing-agent', R, API, 'invoices:read invoices:write'));
    B1s = await ok(exchange(sts, 'sub-agent', B1, API, 'invoices:read'));
    S1 = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read invoices:write'));
    L1 = await ok(exchange(sts, 'leaf-agent', S1, API, 'invoices:read'));
    S1n = await ok(exchange(sts, 'sub-agent', S1, API, 'invoices:read'));
    S2 = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read'));
    R2 = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    S3 = await ok(exchange(sts, 'sub-agent', R2, API, 'invoices:read'));
  });
  afterEach(async () => {
    await sts.close();
  });

  const del = (sid: string, token = admin) => request(sts.app).delete(`/admin/sessions/${sid}`).set('Authorization', `Bearer ${token}`);
  const killS1 = async () => expect((await del(sidOf(S1))).body).toEqual({ revoked: 3 });
  /** S1 killed, a control exchange under S2, then R killed: what is left of R's tree is 5 sessions. */
  const killS1ThenR = async () => {
    await killS1();
    await ok(exchange(sts, 'sub-agent', S2, API, 'invoices:read'));
    expect((await del(sidOf(R))).body).toEqual({ revoked: 5 });
  };

  it('before any kill, every token is active', async () => {
    for (const t of [R, B1, B1s, S1, L1, S1n, S2, R2, S3]) await expectActive(sts, t);
  });

  it('killing a middle session (S1) → 200 {"revoked": 3}: it and both its children', async () => {
    const n = sts.events.events.length;
    const res = await del(sidOf(S1));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 3 });
    expect(sts.events.events.slice(n)).toEqual([{
      type: 'revocation.requested', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'admin', adminSid: expect.any(String), of: 'session', sid: sidOf(S1), by: 'admin', reason: 'admin',
    }, {
      type: 'session.revoked', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'admin', adminSid: expect.any(String),
      sid: sidOf(S1), revoked: 3, sessions: expect.any(Array), by: 'admin', reason: 'admin',
    }]);
    expect(killedIn(sts.events.events.slice(n))).toEqual(killedLines([S1, L1, S1n], API));
  });

  it('every killed token introspects exactly {"active":false}', async () => {
    await killS1();
    for (const t of [S1, L1, S1n]) await expectInactive(sts, t);
  });

  it('an exchange from a killed token → invalid_grant, and writes nothing', async () => {
    await killS1();
    const before = await snapshot(sts);
    for (const t of [S1, L1, S1n]) {
      const res = await exchange(sts, holder(t), t, API, 'invoices:read');
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    }
    // A delegate of the killed token's holder fares no better.
    const res = await exchange(sts, 'leaf-agent', S1, API, 'invoices:read');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await snapshot(sts)).toEqual(before);
  });

  it('the parent, the siblings and their subtrees, and the other tree stay active', async () => {
    await killS1();
    for (const t of [R, B1, B1s, S2, R2, S3]) await expectActive(sts, t);
    // ...and still exchange (the control for the refusals above).
    await ok(exchange(sts, 'sub-agent', S2, API, 'invoices:read'));
  });

  it('no key or index entry of the killed subtree is left in Redis; the parent no longer lists it', async () => {
    await killS1();
    await expectGoneFromRedis(sts, [S1, L1, S1n]);
    expect(await sts.redis!.smembers(sts.keys!.children(sidOf(R)))).not.toContain(sidOf(S1));
  });

  it('a second DELETE → 200 {"revoked": 0} (idempotent), also for a killed descendant and an unknown sid', async () => {
    await killS1();
    for (const sid of [sidOf(S1), sidOf(L1), 'AAAAAAAAAAAAAAAAAAAAAA']) {
      const res = await del(sid);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ revoked: 0 });
    }
  });

  it('killing the root (R) → {"revoked": N} counting what is left of its tree, every descendant dead', async () => {
    await killS1();
    await ok(exchange(sts, 'sub-agent', S2, API, 'invoices:read'));
    // Left under R: R, B1, B1s, S2, and the child of S2 made by the control exchange above.
    const tree = await request(sts.app).get(`/admin/sessions/${sidOf(R)}`).set('Authorization', `Bearer ${admin}`);
    const count = (node: { children: unknown[] }): number => 1 + node.children.reduce<number>((n, c) => n + count(c as { children: unknown[] }), 0);
    expect(count(tree.body)).toBe(5);
    const res = await del(sidOf(R));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 5 });
    for (const t of [R, B1, B1s, S2]) await expectInactive(sts, t);
    await expectGoneFromRedis(sts, [R, B1, B1s, S2]);
  });

  it('a new exchange from a depth-1 descendant of the killed root (allowed by depth) → invalid_grant', async () => {
    await killS1ThenR();
    for (const t of [B1, S2]) {
      const res = await exchange(sts, holder(t), t, API, 'invoices:read');
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    }
  });

  it('the other tree is untouched', async () => {
    await killS1ThenR();
    for (const t of [R2, S3]) await expectActive(sts, t);
    expect(await sts.redis!.smembers(sts.keys!.children(sidOf(R2)))).toEqual([sidOf(S3)]);
  });

  it('the root of the killed tree is gone from the admin API (404) and from the list', async () => {
    await killS1ThenR();
    const one = await request(sts.app).get(`/admin/sessions/${sidOf(R)}`).set('Authorization', `Bearer ${admin}`);
    expect(one.status).toBe(404);
    const list = await request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${admin}`);
    const sids = (list.body.sessions as { sid: string }[]).map((s) => s.sid);
    for (const t of [R, B1, B1s, S1, L1, S1n, S2]) expect(sids).not.toContain(sidOf(t));
    for (const t of [R2, S3]) expect(sids).toContain(sidOf(t));
  });
});

describe('POST /admin/agents/:id/revoke-sessions kills every session the agent holds or acts in', () => {
  let sts: TestSts;
  let admin: string;
  // R (billing) ─┬─ S (sub) ── L (leaf, act: leaf ← sub)
  //              ├─ B1 (billing narrowed)
  //              └─ S' (sub)
  // SR (sub-agent's own root) ── L2 (leaf, act: leaf only)
  // LR (leaf-agent's own root), O (outsider's root)
  let R: string, S: string, L: string, B1: string, Sp: string, SR: string, L2: string, LR: string, O: string;
  /** The service's clock runs this far ahead of the wall clock: moved past the kill's clock-skew allowance. */
  let ahead = 0;

  beforeEach(async () => {
    ahead = 0;
    sts = await startSts({ clock: { nowMs: () => Date.now() + ahead } });
    admin = await adminToken(sts);
    R = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    S = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read invoices:write'));
    L = await ok(exchange(sts, 'leaf-agent', S, API, 'invoices:read'));
    B1 = await ok(exchange(sts, 'billing-agent', R, API, 'invoices:read'));
    Sp = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read'));
    SR = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
    L2 = await ok(exchange(sts, 'leaf-agent', SR, API, 'invoices:read'));
    LR = (await clientCredentials(sts, 'leaf-agent', API, 'invoices:read')).access_token;
    O = (await clientCredentials(sts, 'outsider-agent', API, 'invoices:read')).access_token;
  });
  afterEach(async () => {
    await sts.close();
  });

  const revokeAgent = (id: string) =>
    request(sts.app).post(`/admin/agents/${id}/revoke-sessions`).set('Authorization', `Bearer ${admin}`);
  const revokeSubAgent = async () => expect((await revokeAgent('sub-agent')).body).toEqual({ revoked: 5 });

  it('leaf’s token derived from sub-agent’s names sub-agent in its act chain', () => {
    expect(claims(L).act).toEqual({ sub: 'leaf-agent', act: { sub: 'sub-agent' } });
    expect(claims(L2).act).toEqual({ sub: 'leaf-agent' });
  });

  it('→ 200 {"revoked": 5}: S, L (acts in), S′, SR and SR’s child L2', async () => {
    const n = sts.events.events.length;
    const res = await revokeAgent('sub-agent');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 5 });
    expect(sts.events.events.slice(n)).toEqual([{
      type: 'revocation.requested', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'admin', adminSid: expect.any(String), of: 'agent', agent: 'sub-agent', by: 'admin',
    }, {
      type: 'agent.sessions_revoked', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'admin', adminSid: expect.any(String),
      agent: 'sub-agent', revoked: 5, sessions: expect.any(Array), by: 'admin',
    }]);
    expect(killedIn(sts.events.events.slice(n))).toEqual(killedLines([S, L, Sp, SR, L2], API));
  });

  it('every session sub-agent held or acted in introspects inactive and cannot be exchanged', async () => {
    await revokeSubAgent();
    for (const t of [S, L, Sp, SR, L2]) await expectInactive(sts, t);
    for (const t of [S, Sp, SR]) {
      const res = await exchange(sts, holder(t), t, API, 'invoices:read');
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    }
  });

  it('billing-agent’s root and its own child, leaf-agent’s own root and the outsider stay active', async () => {
    await revokeSubAgent();
    for (const t of [R, B1, LR, O]) await expectActive(sts, t);
    // billing-agent can still delegate to sub-agent: the kill was of sessions, not of the agent
    // (once past the allowance within which requests count as having arrived before the kill).
    ahead += AGENT_KILL_CLOCK_SKEW_MS + 1;
    const again = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read'));
    await expectActive(sts, again);
  });

  it('nothing of the killed sessions is left in Redis; their index entries and sub-agent’s old index entries are gone', async () => {
    await revokeSubAgent();
    await expectGoneFromRedis(sts, [S, L, Sp, SR, L2]);
    const children = await sts.redis!.smembers(sts.keys!.children(sidOf(R)));
    expect(children).toContain(sidOf(B1));
    expect(children).not.toContain(sidOf(S));
    expect(children).not.toContain(sidOf(Sp));
  });

  it('a second call → 200 {"revoked": N} with only what was created since (the fresh delegation: 1), then 0', async () => {
    await revokeSubAgent();
    ahead += AGENT_KILL_CLOCK_SKEW_MS + 1; // past the allowance: this exchange arrived after the kill
    await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read'));
    const first = await revokeAgent('sub-agent');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ revoked: 1 });
    const second = await revokeAgent('sub-agent');
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ revoked: 0 });
    expect(await sts.redis!.exists(sts.keys!.agentIndex('sub-agent'))).toBe(0);
  });

  it('an unknown agent → 200 {"revoked": 0}, nothing changes', async () => {
    const before = await snapshot(sts);
    const res = await revokeAgent('no-such-agent');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 0 });
    expect(await snapshot(sts)).toEqual(before);
  });

  it('killing billing-agent takes its root and everything under it, not leaf-agent’s own root', async () => {
    await revokeSubAgent();
    const res = await revokeAgent('billing-agent');
    expect(res.body).toEqual({ revoked: 2 });
    for (const t of [R, B1]) await expectInactive(sts, t);
    for (const t of [LR, O]) await expectActive(sts, t);
  });
});

describe('a kill racing a burst of exchanges under the same session', () => {
  let sts: TestSts;
  let server: Server;
  let admin: string;

  beforeAll(async () => {
    sts = await startSts();
    server = createServer(sts.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sts.close();
  });

  const EXCHANGES = 100;
  it.each([1, 2, 3])('round %i: once DELETE has answered, no returned token is active and nothing of the tree is left', async () => {
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const rootSid = sidOf(root);
    const child = await ok(exchange(sts, 'billing-agent', root, API, 'invoices:read invoices:write'));
    const client = request(server);

    // Half narrow the root as its holder (children), half delegate the child to sub-agent (grandchildren).
    const start = (i: number): Promise<Res> => {
      const [agent, subject] = i % 2 === 0 ? ['billing-agent', root] : ['sub-agent', child];
      return client.post('/token').set('Authorization', basic(agent)).type('form').send(exchangeForm(subject, 'invoices:read')).then((r) => r);
    };
    // The kill is sent in the middle of the burst, while exchanges are in flight on both sides of it.
    const burst = Array.from({ length: EXCHANGES / 2 }, (_, i) => start(i));
    const killing = client.delete(`/admin/sessions/${rootSid}`).set('Authorization', `Bearer ${admin}`).then((r) => r);
    burst.push(...Array.from({ length: EXCHANGES / 2 }, (_, i) => start(EXCHANGES / 2 + i)));
    const kill = await killing;
    expect(kill.status).toBe(200);

    // From here on, the kill has returned: nothing it covered may be live.
    const results = await Promise.all(burst);
    const issued = results.filter((r) => r.status === 200).map((r) => r.body.access_token as string);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect({ status: r.status, error: r.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    }
    // Every session that was created was created before the kill ran (after it, creation is refused), so the kill counted it.
    expect(kill.body).toEqual({ revoked: 2 + issued.length });

    await expectInactive(sts, root);
    await expectInactive(sts, child);
    for (const t of issued) {
      expect(claims(t).sid).not.toBe(rootSid);
      await expectInactive(sts, t);
    }
    const late = await exchange(sts, 'billing-agent', root, API, 'invoices:read');
    expect({ status: late.status, error: late.body.error }).toEqual({ status: 400, error: 'invalid_grant' });

    // Only the admin's own session (and its index entries) is left under this app's prefix.
    const k = sts.keys!;
    const adminSid = sidOf(admin);
    expect(await redisState(sts)).toEqual(
      [k.session(adminSid), k.agentIndex('admin'), k.subjectIndex('admin'), k.allSessions()].sort(),
    );
    expect(await sts.redis!.zrange(k.allSessions(), '0', '-1')).toEqual([adminSid]);
  });
});
