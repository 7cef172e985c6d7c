import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { STREAM_QUOTA } from '../../src/push/poll.js';
import { MIN_VERIFICATION_INTERVAL_SECONDS } from '../../src/push/streams.js';
import { PUSH_STREAM } from '../../src/store/ssf.js';
import { expectOAuthError, sidOf } from '../helpers/responses.js';
import { adminToken, API, basic, clientCredentials, OTHER_API, startSts, type TestSts } from '../helpers/sts.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 20, finding 8: what one resource server can make agent-sts hold for it is bounded. Long
 * polls waiting on an instance, stored positions, verification SETs; and a refused stream delete
 * writes nothing. Each test asserts the answer and the SSF keys in Redis after.
 */

const MAX_LONG_POLLS = 3;

let sts: TestSts;
let nowMs: number;
beforeEach(async () => {
  nowMs = Date.now();
  // A long poll never ends by itself within a test: each test releases its waiters.
  sts = await startSts({ store: 'redis', clock: { nowMs: () => nowMs }, ssfLongPollMs: 60_000, ssfMaxLongPolls: MAX_LONG_POLLS });
});
afterEach(async () => {
  await sts.close();
});

const poll = (rs: string, body: Record<string, unknown> = {}) =>
  request(sts.app).post('/ssf/poll').set('Authorization', basic(rs)).send({ returnImmediately: true, ...body });
const createStream = (rs = API) => request(sts.app).post('/ssf/streams').set('Authorization', basic(rs)).send({});
const verify = (streamId: string) => request(sts.app).post('/ssf/verify').set('Authorization', basic(API)).send({ stream_id: streamId });
const deleteStream = (streamId: string, rs = API) => request(sts.app).delete(`/ssf/streams?stream_id=${streamId}`).set('Authorization', basic(rs));

/** Every SSF key of `aud` with its type, content and absolute expiry: equal snapshots mean nothing was written. */
async function ssfState(aud: string): Promise<Record<string, unknown>> {
  const r = sts.redis!;
  const out: Record<string, unknown> = {};
  for (const key of (await r.keys(`${sts.prefix}{ssf:${aud}}*`)).sort()) {
    const type = await r.type(key);
    const value = type === 'stream' ? await r.xrange(key, '-', '+')
      : type === 'hash' ? await r.hgetall(key)
        : type === 'zset' ? await r.zrange(key, '0', '-1', 'WITHSCORES')
          : type === 'set' ? (await r.smembers(key)).sort() : await r.get(key);
    out[key] = { type, value, expiresAt: await r.call('PEXPIRETIME', key) };
  }
  return out;
}
const cursors = async (aud: string) => (await sts.redis!.keys(`${sts.keys!.ssfCursor(aud, '')}*`)).length;
const setsIn = async (aud: string) => sts.redis!.xlen(sts.keys!.ssfStream(aud));

describe('long polls per resource server and instance', () => {
  it(`past STS_SSF_MAX_LONG_POLLS (${MAX_LONG_POLLS}) waiting, a long poll answers at once with what there is; the waiting ones all get the next kill`, async () => {
    const waiting = [1, 2, 3].map((n) => poll(API, { stream: `w${n}`, returnImmediately: false }).then((r) => r));
    await until(() => sts.deps.ssf!.wakeups.waiting(API) === MAX_LONG_POLLS, 'three polls wait');
    const extra = await poll(API, { stream: 'w4', returnImmediately: false });
    expect([extra.status, extra.body]).toEqual([200, { sets: {}, moreAvailable: false }]);
    // another resource server has its own share
    const other = poll(OTHER_API, { returnImmediately: false }).then((r) => r);
    await until(() => sts.deps.ssf!.wakeups.waiting(OTHER_API) === 1, 'the other resource server waits');
    expect(sts.deps.ssf!.wakeups.waiting(API)).toBe(MAX_LONG_POLLS);

    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    await clientCredentials(sts, 'billing-agent', OTHER_API, 'reports:read');
    const admin = await adminToken(sts);
    expect((await request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`)).status).toBe(200);
    const answers = await Promise.all([...waiting, other]);
    expect(answers.map((r) => [r.status, Object.keys(r.body.sets).length])).toEqual([[200, 1], [200, 1], [200, 1], [200, 1]]);
    expect([sts.deps.ssf!.wakeups.waiting(API), sts.deps.ssf!.wakeups.waiting(OTHER_API)]).toEqual([0, 0]);
    expect(await setsIn(API)).toBe(1);
    // four positions (the one answered at once included), nothing else
    expect(await sts.redis!.zrange(sts.keys!.ssfPositions(API), '0', '-1')).toEqual(['w1', 'w2', 'w3', 'w4']);
    expect(await cursors(API)).toBe(4);
  });
});

describe('stored positions', () => {
  it(`stream names polled count with managed streams against ${STREAM_QUOTA.max} per resource server; past it a new name is refused (409) and nothing is written`, async () => {
    expect((await createStream()).status).toBe(201);
    for (let n = 1; n < STREAM_QUOTA.max; n++) expect((await poll(API, { stream: `s${n}` })).status).toBe(200);
    expect(await sts.redis!.zcard(sts.keys!.ssfPositions(API))).toBe(STREAM_QUOTA.max - 1);
    const before = await ssfState(API);
    const refused = await poll(API, { stream: 'one-too-many', ack: ['x'] });
    expectOAuthError(refused, 409, 'invalid_request');
    expect(refused.body.error_description).toMatch(/^at most 100 streams per resource server/);
    expectOAuthError(await poll(API), 409, 'invalid_request'); // `default` is a name like any other
    expectOAuthError(await createStream(), 409, 'invalid_request');
    expect(await ssfState(API)).toEqual(before);
    expect([await cursors(API), await sts.redis!.exists(sts.keys!.ssfCursor(API, 'one-too-many'))]).toEqual([STREAM_QUOTA.max - 1, 0]);
    // a name already placed still polls, and another resource server has its own quota
    expect((await poll(API, { stream: 's1' })).status).toBe(200);
    expect((await poll(OTHER_API, { stream: 'one-too-many' })).status).toBe(200);
  });

  it('a name unpolled for 10 minutes gives its place to a new one, its position with it; the count stays at the quota', async () => {
    for (let n = 1; n <= STREAM_QUOTA.max; n++) {
      expect((await poll(API, { stream: `s${n}` })).status).toBe(200);
      nowMs += 1;
    }
    expectOAuthError(await poll(API, { stream: 'late' }), 409, 'invalid_request');
    nowMs += STREAM_QUOTA.idleMs - STREAM_QUOTA.max;
    // s1 was polled idleMs ago: it goes; s2 is a millisecond short of it and stays
    expect((await poll(API, { stream: 'late' })).status).toBe(200);
    expectOAuthError(await poll(API, { stream: 'later' }), 409, 'invalid_request');
    const names = await sts.redis!.zrange(sts.keys!.ssfPositions(API), '0', '-1');
    expect([names.length, names.includes('s1'), names.includes('late')]).toEqual([STREAM_QUOTA.max, false, true]);
    expect(await sts.redis!.exists(sts.keys!.ssfCursor(API, 's1'))).toBe(0);
    expect(await cursors(API)).toBe(STREAM_QUOTA.max);
  });
});

describe('verification', () => {
  it(`at most one verification SET per stream every ${MIN_VERIFICATION_INTERVAL_SECONDS} s (SSF min_verification_interval, advertised on the stream): more answer 429 with Retry-After and append nothing`, async () => {
    const made = await createStream();
    expect(made.body.min_verification_interval).toBe(MIN_VERIFICATION_INTERVAL_SECONDS);
    const id = made.body.stream_id as string;
    expect((await verify(id)).status).toBe(204);
    const before = await ssfState(API);
    nowMs += 20_000;
    for (let n = 0; n < 150; n++) {
      const res = await verify(id);
      expectOAuthError(res, 429, 'slow_down');
      expect(res.headers['retry-after']).toBe('40');
    }
    expect(await ssfState(API)).toEqual(before);
    expect(await setsIn(API)).toBe(1);
    // another stream has its own interval; once it has passed, this one verifies again
    expect((await verify((await createStream()).body.stream_id)).status).toBe(204);
    nowMs += 40_000;
    expect((await verify(id)).status).toBe(204);
    expect(await setsIn(API)).toBe(3);
    expectOAuthError(await verify('no-such-stream'), 404, 'not_found');
  });
});

describe('a refused stream delete', () => {
  it('push delivery\'s position, a polled name, an unknown id or another resource server\'s stream: 404, and not one SSF key changes', async () => {
    const admin = await adminToken(sts);
    for (let n = 0; n < 2; n++) {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      expect((await request(sts.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${admin}`)).status).toBe(200);
    }
    // push delivery's position has acknowledged the first SET; a poller's has too
    const pushPoll = (ack: string[]) => sts.deps.ssf!.store.poll(API, { stream: PUSH_STREAM, ack, maxEvents: 10, nowMs, retentionMs: sts.config.ssf.retentionMs });
    const [first] = (await pushPoll([])).sets;
    expect((await pushPoll([first!.jti])).sets).toHaveLength(1);
    expect((await poll(API, { stream: 'replica', ack: [first!.jti] })).status).toBe(200);
    const theirs = (await createStream(OTHER_API)).body.stream_id as string;
    const before = { api: await ssfState(API), other: await ssfState(OTHER_API) };
    expect(Object.keys(before.api)).toEqual(expect.arrayContaining([sts.keys!.ssfCursor(API, PUSH_STREAM), sts.keys!.ssfCursor(API, 'replica')]));

    for (const id of [PUSH_STREAM, 'replica', 'unknown']) expectOAuthError(await deleteStream(id), 404, 'not_found');
    expectOAuthError(await deleteStream(theirs), 404, 'not_found');
    expect({ api: await ssfState(API), other: await ssfState(OTHER_API) }).toEqual(before);
    // push delivery does not send the first SET again
    expect((await pushPoll([])).sets.map((s) => s.jti)).not.toContain(first!.jti);
  });
});
