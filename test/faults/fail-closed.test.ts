import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { eventually } from '../helpers/wait.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { adminToken, API, basic, claims, clientCredentials, introspect, startSts, type TestSts } from '../helpers/sts.js';

/** Redis down or frozen: nothing is issued, nothing introspects active, and it recovers by itself. */
describe('fail closed when Redis is down or slow', () => {
  let redis: RedisProcess;
  let sts: TestSts;
  let token: string;
  let admin: string;

  // A Redis and an app of its own for each test: each one breaks Redis in its own way.
  beforeEach(async () => {
    redis = await startRedis();
    sts = await startSts({ redisUrl: redis.url, commandTimeoutMs: 200 });
    token = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    admin = await adminToken(sts);
  });
  afterEach(async () => {
    await sts.close();
    await redis.stop();
  });

  const expectUnavailable = (res: request.Response) => {
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: 'session store unavailable' });
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.active).toBeUndefined();
    expect(res.body.access_token).toBeUndefined();
  };

  const everyEndpoint = async () => {
    expectUnavailable(await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' }));
    expectUnavailable(await introspect(sts, token));
    expectUnavailable(await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token }));
    expectUnavailable(await request(sts.app).delete(`/admin/sessions/${String(claims(token).sid)}`).set('Authorization', `Bearer ${admin}`));
  };

  it('answers 503 temporarily_unavailable on every endpoint while Redis is killed', async () => {
    await redis.kill();
    await everyEndpoint();
  });

  it('recovers without a restart once Redis is back (the earlier session died with the unpersisted Redis)', async () => {
    await redis.kill();
    expectUnavailable(await introspect(sts, token));
    await redis.restart();
    const res = await eventually(() => introspect(sts, token), (r) => r.status !== 503, { withinMs: 5_000, everyMs: 100 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ active: false });
    token = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    admin = await adminToken(sts);
    expect((await introspect(sts, token)).body.active).toBe(true);
  });

  it('answers 503 within the command timeout while Redis is frozen (SIGSTOP), never active', async () => {
    redis.pause();
    try {
      await everyEndpoint();
    } finally {
      redis.resume();
    }
    expect((await introspect(sts, token)).body.active).toBe(true);
  });
});
