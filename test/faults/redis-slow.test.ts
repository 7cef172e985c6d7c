import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import request from 'supertest';
import { sleep } from '../helpers/wait.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { adminToken, API, basic, clientCredentials, exchange, introspect, startSts, type TestSts } from '../helpers/sts.js';
import { sidOf } from '../helpers/responses.js';

/**
 * Redis alive but answering nothing — `CLIENT PAUSE … ALL` (every command held) or SIGSTOP (the
 * process frozen). Every endpoint that needs the store fails closed with 503
 * temporarily_unavailable + Retry-After after the command timeout (200 ms here) instead of waiting
 * for Redis: the pause lasts 2 s, so an endpoint that waited would answer 200, not 503. Nothing
 * answers active:true or hands out a token meanwhile, and once Redis answers again a session
 * killed just before the stall is still dead (the timeout was never read as "not revoked").
 */

const PAUSE_MS = 2_000;
const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'session store unavailable' };

function expectUnavailable(res: request.Response): void {
  expect({ status: res.status, body: res.body as unknown, retryAfter: res.headers['retry-after'] }).toEqual({
    status: 503, body: UNAVAILABLE, retryAfter: '1',
  });
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.text).not.toContain('access_token');
  expect(res.text).not.toContain('"active":true');
}

interface Tokens {
  /** live, never touched */
  live: string;
  /** live, a child of `live` */
  child: string;
  /** killed through the admin API just before the stall */
  killed: string;
  killedChild: string;
  /** targets of a /revoke and an admin DELETE sent during the stall */
  toRevoke: string;
  toDelete: string;
}

describe('Redis slow: requests fail closed within the command timeout, a timeout is never "not revoked"', () => {
  let redis: RedisProcess;
  let sts: TestSts;
  let pauser: Redis;
  let admin: string;

  beforeAll(async () => {
    redis = await startRedis();
    sts = await startSts({ redisUrl: redis.url, commandTimeoutMs: 200 });
    pauser = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    pauser.on('error', () => {});
    await pauser.connect();
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    await pauser.quit();
    await sts.close();
    await redis.stop();
  });

  const del = (sid: string) => request(sts.app).delete(`/admin/sessions/${sid}`).set('Authorization', `Bearer ${admin}`);

  async function prepare(): Promise<Tokens> {
    const cc = async () => (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const child = async (parent: string) => {
      const res = await exchange(sts, 'sub-agent', parent, API, 'invoices:read');
      expect(res.status).toBe(200);
      return res.body.access_token as string;
    };
    const live = await cc();
    const killed = await cc();
    const t: Tokens = { live, child: await child(live), killed, killedChild: await child(killed), toRevoke: await cc(), toDelete: await cc() };
    for (const tok of Object.values(t)) expect((await introspect(sts, tok)).body.active).toBe(true);
    // The kill returns just before Redis stalls.
    const res = await del(sidOf(t.killed));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 2 });
    return t;
  }

  /** Every store-backed endpoint at once, plus a burst of introspections of the killed token. */
  async function everyEndpointFailsClosed(t: Tokens): Promise<void> {
    const results = await Promise.all([
      request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form')
        .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' }),
      exchange(sts, 'sub-agent', t.live, API, 'invoices:read'),
      exchange(sts, 'sub-agent', t.killed, API, 'invoices:read'),
      introspect(sts, t.live),
      introspect(sts, t.child),
      ...Array.from({ length: 10 }, () => introspect(sts, t.killed)),
      ...Array.from({ length: 10 }, () => introspect(sts, t.killedChild)),
      request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: t.toRevoke }),
      del(sidOf(t.toDelete)),
      request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${admin}`),
      request(sts.app).post('/admin/agents/sub-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`),
    ]);
    for (const res of results) expectUnavailable(res);
  }

  /** Introspects the killed token until Redis answers again: every answer on the way is 503 or inactive. */
  async function waitForRedis(t: Tokens): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const res = await introspect(sts, t.killed);
      if (res.status === 200) {
        expect(res.body).toEqual({ active: false });
        return;
      }
      expectUnavailable(res);
      await sleep(100);
    }
    throw new Error('Redis did not come back');
  }

  /** After the stall: the killed stay dead, the live are live, and the refused calls succeed when retried. */
  async function afterTheStall(t: Tokens): Promise<void> {
    for (const tok of [t.killed, t.killedChild]) {
      const res = await introspect(sts, tok);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ active: false });
    }
    const refused = await exchange(sts, 'sub-agent', t.killed, API, 'invoices:read');
    expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    for (const tok of [t.live, t.child]) {
      const res = await introspect(sts, tok);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ active: true, sid: sidOf(tok) });
    }
    expect((await exchange(sts, 'sub-agent', t.live, API, 'invoices:read')).status).toBe(200);
    // The revocation and the kill that got a 503 are retried, as Retry-After says, and now take effect.
    const revoke = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: t.toRevoke });
    expect(revoke.status).toBe(200);
    const kill = await del(sidOf(t.toDelete));
    expect(kill.status).toBe(200);
    for (const tok of [t.toRevoke, t.toDelete]) expect((await introspect(sts, tok)).body).toEqual({ active: false });
    const k = sts.keys!;
    for (const tok of [t.killed, t.killedChild, t.toRevoke, t.toDelete]) expect(await sts.redis!.exists(k.session(sidOf(tok)))).toBe(0);
  }

  // One test per stall, from the stall to the recovery: each starts and ends with Redis answering.
  it(`CLIENT PAUSE ${PAUSE_MS} ALL: every endpoint answers 503 temporarily_unavailable with Retry-After, none active, no token; after the pause the killed session is still dead, the live one active again`, async () => {
    const t = await prepare();
    expect(await pauser.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL')).toBe('OK');
    await everyEndpointFailsClosed(t);
    await waitForRedis(t);
    await afterTheStall(t);
  });

  it('SIGSTOP (the process frozen, connections open): every endpoint answers 503 with Retry-After, twice; after SIGCONT the killed session is still dead, the live one active again', async () => {
    const t = await prepare();
    redis.pause();
    try {
      await everyEndpointFailsClosed(t);
      // still frozen, a second round fails closed the same way (no request is stuck behind the first)
      await everyEndpointFailsClosed(t);
    } finally {
      redis.resume();
    }
    await waitForRedis(t);
    await afterTheStall(t);
  });
});
