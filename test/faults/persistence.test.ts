import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { sleep } from '../helpers/wait.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { adminToken, API, basic, clientCredentials, exchange, introspect, redisState, startSts, tombstones, type TestSts } from '../helpers/sts.js';
import { expectActive, expectInactive } from '../helpers/liveness.js';
import { ok, sidOf } from '../helpers/responses.js';

/**
 * Redis crashes (SIGKILL) right after a kill returned, and comes back on the same data dir.
 * With AOF and `appendfsync always` a kill that answered 200 is on disk: after the restart the
 * killed sessions are still dead and the live ones still live. With persistence off (the
 * default of the harness) a restart loses every session: they fail closed (inactive), never
 * active — which is why the guarantee needs AOF. (With `appendfsync everysec` a kill acknowledged
 * in the last second before a crash can be lost and the killed sessions revive; that window is
 * timing-dependent and not exercised here.)
 */


/**
 * Introspects until the app's Redis client has reconnected (503 while it has not). Every answer
 * on the way is either the fail-closed 503 or the final 200; it is never a guess.
 */
async function introspectAfterRestart(sts: TestSts, token: string): Promise<request.Response> {
  for (let i = 0; i < 100; i++) {
    const res = await introspect(sts, token);
    if (res.status === 200) return res;
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: 'session store unavailable' });
    await sleep(50);
  }
  throw new Error('the app did not reconnect to the restarted Redis');
}

/** A tree and a second root: R ─┬─ C1 (sub) ── G1 (leaf);  R ── C2 (sub);  R2 ── C3 (sub). */
async function issueForest(sts: TestSts) {
  const R = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
  const C1 = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read invoices:write'));
  const G1 = await ok(exchange(sts, 'leaf-agent', C1, API, 'invoices:read'));
  const C2 = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read'));
  const R2 = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
  const C3 = await ok(exchange(sts, 'sub-agent', R2, API, 'invoices:read'));
  return { R, C1, G1, C2, R2, C3 };
}

/**
 * A Redis with AOF + appendfsync always, an app, a forest, and the first crash: C1 killed (→ 2
 * revoked), Redis SIGKILLed at once and restarted on the same dir, the app reconnected.
 */
async function crashedAfterKill() {
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  const sts = await startSts({ redisUrl: redis.url, commandTimeoutMs: 200 });
  const admin = await adminToken(sts);
  const t = await issueForest(sts);
  const killed = [t.C1, t.G1];
  const live = [t.R, t.C2, t.R2, t.C3];
  const beforeKill = await Promise.all([...killed, ...live].map((tok) => introspect(sts, tok)));
  const kill = await request(sts.app).delete(`/admin/sessions/${sidOf(t.C1)}`).set('Authorization', `Bearer ${admin}`);
  await redis.kill();
  await redis.restart();
  const afterRestart = await introspectAfterRestart(sts, t.C1);
  return { redis, sts, admin, t, killed, live, beforeKill, kill, afterRestart };
}

async function closeAfterRestart(redis: RedisProcess, sts: TestSts): Promise<void> {
  // let the raw client finish reconnecting first: disconnecting it mid-reconnect leaves a 2 s timer behind
  await sts.redis!.ping();
  await sts.close();
  await redis.stop();
}

// The crash happens once in beforeAll; the tests read what it left, so they pass in any order.
describe('Redis with AOF + appendfsync always: a kill -9 right after a kill returned loses nothing', () => {
  let c: Awaited<ReturnType<typeof crashedAfterKill>>;

  beforeAll(async () => {
    c = await crashedAfterKill();
  });
  afterAll(async () => {
    await closeAfterRestart(c.redis, c.sts);
  });

  it('persistence is really on in the Redis under test (the control for the other describe)', async () => {
    expect(await c.sts.redis!.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await c.sts.redis!.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
  });

  it('kill C1 (→ 2 revoked), SIGKILL Redis at once, restart it on the same dir', () => {
    for (const [i, res] of c.beforeKill.entries()) {
      const tok = [...c.killed, ...c.live][i]!;
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ active: true, sid: sidOf(tok) });
    }
    expect(c.kill.status).toBe(200);
    expect(c.kill.body).toEqual({ revoked: 2 });
  });

  it('after the restart the killed sessions are still dead: {"active":false}', async () => {
    expect(c.afterRestart.body).toEqual({ active: false });
    for (const tok of c.killed) await expectInactive(c.sts, tok);
  });

  it('no key of the killed sessions came back, and the parent no longer lists C1', async () => {
    const { sts, t, killed } = c;
    const k = sts.keys!;
    for (const tok of killed) expect(await sts.redis!.exists(k.session(sidOf(tok)), k.children(sidOf(tok)))).toBe(0);
    const dump = (await redisState(sts)).join('\n');
    for (const tok of killed) expect(dump).not.toContain(sidOf(tok));
    expect(await sts.redis!.smembers(k.children(sidOf(t.R)))).toEqual([sidOf(t.C2)]);
    expect(await sts.redis!.zrange(k.allSessions(), '0', '-1')).not.toContain(sidOf(t.C1));
    // the kill's tombstone (which refuses a create still in flight for C1) survived the crash too
    expect(await tombstones(sts)).toContain(k.revoked(sidOf(t.C1)));
  });

  it('the live sessions are still live: active, stored, and usable (exchange, admin tree)', async () => {
    const { sts, t, live, admin } = c;
    for (const tok of live) await expectActive(sts, tok);
    for (const tok of live) expect(await sts.redis!.exists(sts.keys!.session(sidOf(tok)))).toBe(1);
    // Exchanged under C2 (sub-agent narrowing its own): R's children stay exactly [C2] for the test above.
    await ok(exchange(sts, 'sub-agent', t.C2, API, 'invoices:read'));
    const tree = await request(sts.app).get(`/admin/sessions/${sidOf(t.R2)}`).set('Authorization', `Bearer ${admin}`);
    expect(tree.status).toBe(200);
    expect(tree.body).toMatchObject({ sid: sidOf(t.R2), children: [{ sid: sidOf(t.C3), children: [] }] });
  });

  it('a killed token still cannot be exchanged after the restart', async () => {
    const { sts, t } = c;
    const before = await redisState(sts);
    const res = await exchange(sts, 'leaf-agent', t.C1, API, 'invoices:read');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await redisState(sts)).toEqual(before);
  });
});

describe('Redis with AOF + appendfsync always: a second crash right after a /revoke by the holder', () => {
  let c: Awaited<ReturnType<typeof crashedAfterKill>>;

  beforeAll(async () => {
    c = await crashedAfterKill();
  });
  afterAll(async () => {
    await closeAfterRestart(c.redis, c.sts);
  });

  it('the revoked subtree stays dead too', async () => {
    const { sts, t, admin, redis } = c;
    const extra = await ok(exchange(sts, 'sub-agent', t.R, API, 'invoices:read'));
    const res = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: t.R2 });
    expect(res.status).toBe(200);
    await redis.kill();
    await redis.restart();
    expect((await introspectAfterRestart(sts, t.R2)).body).toEqual({ active: false });
    await expectInactive(sts, t.C3);
    for (const tok of [t.R, t.C2, extra]) await expectActive(sts, tok);
    // the admin's session survived both crashes as well: its token still opens the admin API
    const list = await request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${admin}`);
    expect(list.status).toBe(200);
    expect((list.body.sessions as { sid: string }[]).map((s) => s.sid).sort()).toEqual(
      [t.R, t.C2, admin, extra].map(sidOf).sort(),
    );
  });
});

describe('Redis without persistence (the harness default): a restart loses live sessions — inactive, never active', () => {
  let redis: RedisProcess;
  let sts: TestSts;
  let admin: string;
  let t: Awaited<ReturnType<typeof issueForest>>;
  let kill: request.Response;
  let afterRestart: request.Response;
  let stateAfterRestart: string[];

  // C1 killed, then Redis SIGKILLed and restarted, once; the tests read what is left.
  beforeAll(async () => {
    redis = await startRedis();
    sts = await startSts({ redisUrl: redis.url, commandTimeoutMs: 200 });
    admin = await adminToken(sts);
    t = await issueForest(sts);
    kill = await request(sts.app).delete(`/admin/sessions/${sidOf(t.C1)}`).set('Authorization', `Bearer ${admin}`);
    await redis.kill();
    await redis.restart();
    afterRestart = await introspectAfterRestart(sts, t.R);
    stateAfterRestart = await redisState(sts);
  });
  afterAll(async () => {
    await closeAfterRestart(redis, sts);
  });

  it('persistence is off in this Redis', async () => {
    expect(await sts.redis!.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await sts.redis!.config('GET', 'save')).toEqual(['save', '']);
  });

  it('kill C1, SIGKILL and restart Redis: every session is gone, killed and live alike, and none answers active', async () => {
    expect(kill.body).toEqual({ revoked: 2 });
    expect(afterRestart.body).toEqual({ active: false });
    for (const tok of Object.values(t)) await expectInactive(sts, tok);
    expect(stateAfterRestart).toEqual([]);
  });

  it('the lost sessions fail closed: no exchange from them, and the admin token is gone too', async () => {
    const before = await redisState(sts);
    const res = await exchange(sts, 'sub-agent', t.R, API, 'invoices:read');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    const adminRes = await request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${admin}`);
    expect(adminRes.status).toBe(401);
    expect(adminRes.body.error).toBe('invalid_token');
    expect(await redisState(sts)).toEqual(before);
    expect(stateAfterRestart).toEqual([]);
  });

  it('the service itself recovered: new tokens are issued and introspect active', async () => {
    const fresh = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    await expectActive(sts, fresh);
  });
});
