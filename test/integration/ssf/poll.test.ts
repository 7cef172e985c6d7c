import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import request from 'supertest';
import { CAEP_SESSION_REVOKED, REVOKED_SESSIONS_MEMBER, SET_TYP } from 'agent-sts-gate/protocol';
import { expectOAuthError, ok, sidOf } from '../../helpers/responses.js';
import { until } from '../../helpers/wait.js';
import { MemoryRegistryStore } from '../../../src/store/memory/registry-store.js';
import { MemorySessionStore } from '../../../src/store/memory/session-store.js';
import { MemorySsfStore } from '../../../src/store/memory/ssf-store.js';
import {
  adminToken, API, basic, clientCredentials, exchange, introspect, ISSUER, kill, OTHER_API, startSts, type StoreKind, type TestSts,
} from '../../helpers/sts.js';

/**
 * Every kill becomes CAEP session-revoked SETs in each audience's stream, read by SSF poll
 * (RFC 8936): signed and shaped as CAEP wants, each resource server seeing only its own, every
 * SET exactly once after the last ack, and a subscriber trimmed past retention told to resync.
 */

const DAY_MS = 86_400_000;

interface Polled {
  sets: Record<string, string>;
  moreAvailable?: boolean;
  resync?: boolean;
}

const poll = (sts: TestSts, rs: string, body: Record<string, unknown> = {}) =>
  request(sts.app).post('/ssf/poll').set('Authorization', basic(rs)).send({ returnImmediately: true, ...body });

async function polled(sts: TestSts, rs: string, body: Record<string, unknown> = {}): Promise<Polled> {
  const res = await poll(sts, rs, body);
  expect(res.status).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  return res.body as Polled;
}

/** Reads and acknowledges everything waiting, so a test starts from an empty stream. */
async function drain(sts: TestSts, rs: string): Promise<void> {
  const first = await polled(sts, rs);
  await polled(sts, rs, { ack: Object.keys(first.sets), maxEvents: 0 });
}

async function verified(sts: TestSts, set: string, aud: string): Promise<JWTPayload> {
  const jwks = createLocalJWKSet((await request(sts.app).get('/jwks')).body);
  const { payload } = await jwtVerify(set, jwks, { issuer: ISSUER, audience: aud, typ: SET_TYP, algorithms: ['ES256', 'EdDSA'] });
  return payload;
}

type Revoked = { event_timestamp: number; initiating_entity: string; reason_admin: { en: string }; [REVOKED_SESSIONS_MEMBER]: { sid: string; exp: number }[] };
const eventOf = (p: JWTPayload) => (p.events as Record<string, Revoked>)[CAEP_SESSION_REVOKED]!;
const sidsIn = (p: JWTPayload) => eventOf(p)[REVOKED_SESSIONS_MEMBER].map((s) => s.sid).sort();

describe.each<StoreKind>(['redis', 'memory'])('SSF poll, %s store', (store) => {
  let sts: TestSts;
  // Real time (Redis expires keys by its own clock, and an agent-wide kill refuses what arrives within a second of it), plus 2 s jumps past an agent-wide kill's marker.
  let ahead = 0;
  const now = () => Date.now() + ahead;
  let admin: string;
  beforeAll(async () => {
    sts = await startSts({ store, clock: { nowMs: now } });
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    await sts.close();
  });
  const killAs = (sid: string, requestId: string) => kill(sts, sid, { admin, requestId });

  it('a mid-tree kill: one SET, signed with /jwks, typ secevent+jwt, carrying the CAEP fields and every session that died, the descendants included', async () => {
    await drain(sts, API);
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const mid = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read invoices:write'));
    const leaf = await ok(exchange(sts, 'leaf-agent', mid, API, 'invoices:read'));
    await killAs(sidOf(mid), 'kill-mid');

    const api = await polled(sts, API);
    expect(Object.keys(api.sets)).toHaveLength(1);
    const [jti, set] = Object.entries(api.sets)[0]!;
    expect(decodeProtectedHeader(set)).toMatchObject({ typ: SET_TYP, alg: 'ES256', kid: expect.any(String) });
    const p = await verified(sts, set, API);
    expect(p).toEqual({
      iss: ISSUER, jti, iat: expect.any(Number), aud: API, txn: 'kill-mid',
      sub_id: {
        format: 'complex', session: { format: 'opaque', id: sidOf(mid) }, user: { format: 'opaque', id: 'billing-agent' },
        application: { format: 'opaque', id: 'sub-agent' },
      },
      events: {
        [CAEP_SESSION_REVOKED]: {
          event_timestamp: expect.any(Number), initiating_entity: 'admin', reason_admin: { en: expect.stringMatching(/\S/) },
          [REVOKED_SESSIONS_MEMBER]: expect.any(Array),
        },
      },
    });
    expect(sidsIn(p)).toEqual([sidOf(mid), sidOf(leaf)].sort());
    for (const s of eventOf(p)[REVOKED_SESSIONS_MEMBER]) expect(s.exp).toBeGreaterThan(now() / 1000);
  });

  it('a resource server never sees another\'s sessions: an agent-wide kill gives each audience a SET of its own tokens only', async () => {
    const killAll = (id: string) => request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`).set('X-Request-Id', id);
    await killAll('before');
    await drain(sts, API);
    await drain(sts, OTHER_API);
    ahead += 2_000; // past the kill marker: billing-agent may get tokens again
    const mine = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const theirs = (await clientCredentials(sts, 'billing-agent', OTHER_API, 'reports:read')).access_token;
    expect((await killAll('kill-billing')).status).toBe(200);
    const api = await Promise.all(Object.values((await polled(sts, API)).sets).map((s) => verified(sts, s, API)));
    const other = Object.values((await polled(sts, OTHER_API)).sets);
    expect(api.map(sidsIn)).toEqual([[sidOf(mine)]]);
    expect(await Promise.all(other.map(async (s) => sidsIn(await verified(sts, s, OTHER_API))))).toEqual([[sidOf(theirs)]]);
    expect(api[0]).toMatchObject({ txn: 'kill-billing', sub_id: { format: 'complex', application: { format: 'opaque', id: 'billing-agent' } } });
    // a SET for OTHER_API does not verify as one for API
    await expect(verified(sts, other[0]!, API)).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  it('the agent revoking its own token says initiating_entity user; a user-wide kill names the user', async () => {
    ahead += 2_000;
    await drain(sts, API);
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const rev = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: t });
    expect(rev.status).toBe(200);
    const u = (await clientCredentials(sts, 'outsider-agent', API, 'invoices:read')).access_token;
    const all = await request(sts.app).post('/admin/subjects/outsider-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`).set('X-Request-Id', 'kill-user');
    expect(all.status).toBe(200);
    const sets = await Promise.all(Object.values((await polled(sts, API)).sets).map((s) => verified(sts, s, API)));
    expect(sets.map((p) => [eventOf(p).initiating_entity, sidsIn(p)])).toEqual([['user', [sidOf(t)]], ['admin', [sidOf(u)]]]);
    expect(sets[1]).toMatchObject({ txn: 'kill-user', sub_id: { format: 'complex', user: { format: 'opaque', id: 'outsider-agent' } } });
  });

  it('a subscriber away during kills receives every SET exactly once after its last ack, then nothing', async () => {
    await drain(sts, API);
    const tokens = await Promise.all([1, 2, 3].map(async () => (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token));
    await killAs(sidOf(tokens[0]!), 'k1');
    const seen = await polled(sts, API);
    expect(Object.keys(seen.sets)).toHaveLength(1);
    // it goes away without acknowledging; two more kills meanwhile
    await killAs(sidOf(tokens[1]!), 'k2');
    await killAs(sidOf(tokens[2]!), 'k3');
    const back = await polled(sts, API, { ack: Object.keys(seen.sets) });
    const payloads = await Promise.all(Object.values(back.sets).map((s) => verified(sts, s, API)));
    expect(payloads.map((p) => p.txn)).toEqual(['k2', 'k3']);
    expect(payloads.map(sidsIn)).toEqual([[sidOf(tokens[1]!)], [sidOf(tokens[2]!)]]);
    const unacked = await polled(sts, API);
    expect(Object.keys(unacked.sets)).toEqual(Object.keys(back.sets));
    expect((await polled(sts, API, { ack: Object.keys(back.sets) })).sets).toEqual({});
  });

  it('maxEvents bounds the answer and moreAvailable says so', async () => {
    await drain(sts, API);
    for (const n of [1, 2, 3]) await killAs(sidOf((await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token), `m${n}`);
    const two = await polled(sts, API, { maxEvents: 2 });
    expect([Object.keys(two.sets).length, two.moreAvailable]).toEqual([2, true]);
    const rest = await polled(sts, API, { ack: Object.keys(two.sets) });
    expect([Object.keys(rest.sets).length, rest.moreAvailable]).toEqual([1, false]);
  });

  it('a long poll answers empty once the bounded wait ends', async () => {
    await drain(sts, API);
    expect((await polled(sts, API, { returnImmediately: false })).sets).toEqual({});
  });

  it('a subscriber whose unacknowledged SETs were trimmed by retention is told to resync, once', async () => {
    // its own instance: the clock moves a day ahead, which no other test should see
    let ahead = 0;
    const own = await startSts({ store, clock: { nowMs: () => Date.now() + ahead } });
    try {
      const killOn = async (t: string, id: string) => {
        const res = await request(own.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${await adminToken(own)}`).set('X-Request-Id', id);
        expect(res.status).toBe(200);
      };
      await killOn((await clientCredentials(own, 'billing-agent', API, 'invoices:read')).access_token, 'old');
      expect(Object.keys((await polled(own, API)).sets)).toHaveLength(1);
      ahead += DAY_MS + 1_000;
      await killOn((await clientCredentials(own, 'billing-agent', API, 'invoices:read')).access_token, 'new');
      const late = await polled(own, API);
      expect(late.resync).toBe(true);
      expect(await Promise.all(Object.values(late.sets).map(async (s) => (await verified(own, s, API)).txn))).toEqual(['new']);
      expect((await polled(own, API)).resync).toBeUndefined();
    } finally {
      await own.close();
    }
  });

  it('a stream that cannot be written fails the kill\'s answer closed (503), the kill still happened, and a retry announces it', async () => {
    if (!sts.redis) return; // the fault is a Redis key of the wrong type
    await drain(sts, API);
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const key = sts.keys!.ssfStream(API);
    await sts.redis.del(key);
    await sts.redis.set(key, 'not a stream');
    try {
      const res = await request(sts.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${admin}`);
      expectOAuthError(res, 503, 'temporarily_unavailable');
      expect(res.body.error_description).toMatch(/^killed 1 session\(s\); .* retrying completes it/);
      expect((await introspect(sts, t)).body).toEqual({ active: false });
    } finally {
      await sts.redis.del(key);
    }
    const retry = await request(sts.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${admin}`).set('X-Request-Id', 'retry');
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ revoked: 0 });
    const sets = await Promise.all(Object.values((await polled(sts, API)).sets).map((s) => verified(sts, s, API)));
    expect(sets.map((p) => [p.txn, sidsIn(p)])).toEqual([['retry', [sidOf(t)]]]);
  });

  it('a kill that removed nothing produces no SET', async () => {
    await drain(sts, API);
    await killAs('AAAAAAAAAAAAAAAA', 'nothing');
    expect((await polled(sts, API)).sets).toEqual({});
  });
});

/**
 * A waiting long poll answers as soon as a kill appends to its stream, on this instance or another,
 * by wake-up alone: each instance's safety recheck is stopped and the wait (5 s) is far longer
 * than the kill, so with wake-ups broken the poll would answer empty.
 */
describe.each<StoreKind>(['redis', 'memory'])('SSF long-poll wake-ups, %s store', (store) => {
  const LONG_POLL_MS = 5_000;
  const instances: TestSts[] = [];
  const start = async (opts: Parameters<typeof startSts>[0] = {}) => {
    const s = await startSts({ store, ssfLongPollMs: LONG_POLL_MS, ...opts });
    s.deps.ssf!.wakeups.close(); // no safety recheck: only a wake-up can answer a waiting poll
    instances.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(instances.map((s) => s.close()));
  });

  const waitThenKill = async (polling: TestSts, killing: TestSts) => {
    await drain(polling, API);
    const t = (await clientCredentials(killing, 'billing-agent', API, 'invoices:read')).access_token;
    const answered = poll(polling, API, { returnImmediately: false }).then((r) => r);
    await until(() => polling.deps.ssf!.wakeups.waiting(API) === 1, 'the poll waits');
    const res = await request(killing.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${await adminToken(killing)}`);
    expect(res.status).toBe(200);
    const got = (await answered).body as Polled;
    expect(Object.keys(got.sets)).toHaveLength(1);
    expect(sidsIn(await verified(polling, Object.values(got.sets)[0]!, API))).toEqual([sidOf(t)]);
  };

  it('a kill on the same instance wakes it', async () => {
    const a = await start();
    await waitThenKill(a, a);
  });

  it('a kill on another instance wakes it (Redis pub/sub; two instances of one process sharing the memory store)', async () => {
    let a: TestSts;
    let b: TestSts;
    if (store === 'redis') {
      a = await start();
      b = await start({ prefix: a.prefix, keysDir: a.config.keysDir });
    } else {
      const sessions = new MemorySessionStore();
      const shared = { stores: { sessions, replay: sessions, ssf: new MemorySsfStore() }, registryStore: new MemoryRegistryStore() };
      a = await start({ live: true, shared });
      b = await start({ live: true, shared, keysDir: a.config.keysDir });
    }
    await waitThenKill(a, b);
  });
});

describe('SSF poll refusals and metadata', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts({ store: 'memory' });
  });
  afterAll(async () => {
    await sts.close();
  });

  it('an agent, a wrong secret or no credentials: 401 invalid_client', async () => {
    expectOAuthError(await request(sts.app).post('/ssf/poll').send({}), 401, 'invalid_client');
    expectOAuthError(await request(sts.app).post('/ssf/poll').set('Authorization', basic('billing-agent')).send({}), 401, 'invalid_client');
    expectOAuthError(await request(sts.app).post('/ssf/poll').set('Authorization', basic(API, 'wrong-secret-0123456789abcdefghijkl')).send({}), 401, 'invalid_client');
  });

  it('client_secret_post in the JSON body authenticates too', async () => {
    const res = await request(sts.app).post('/ssf/poll').send({ client_id: API, client_secret: 'api-resource-server-secret-0123456789ab', returnImmediately: true });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sets: {}, moreAvailable: false });
  });

  it('a malformed body: 400; not JSON: 415; another method: 405', async () => {
    expectOAuthError(await poll(sts, API, { maxEvents: -1 }), 400, 'invalid_request');
    expectOAuthError(await poll(sts, API, { ack: 'x' }), 400, 'invalid_request');
    expectOAuthError(await poll(sts, API, { surprise: 1 }), 400, 'invalid_request');
    expectOAuthError(await request(sts.app).post('/ssf/poll').set('Authorization', basic(API)).set('Content-Type', 'application/json').send('{'), 400, 'invalid_request');
    expectOAuthError(await request(sts.app).post('/ssf/poll').set('Authorization', basic(API)).type('form').send({ maxEvents: 1 }), 415, 'invalid_request');
    expectOAuthError(await request(sts.app).get('/ssf/poll').set('Authorization', basic(API)), 405, 'invalid_request');
  });

  it('GET /.well-known/ssf-configuration names the issuer, the JWKS, poll and push delivery', async () => {
    const res = await request(sts.app).get('/.well-known/ssf-configuration');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      spec_version: '1_0', issuer: ISSUER, jwks_uri: `${ISSUER}/jwks`, delivery_methods_supported: ['urn:ietf:rfc:8936', 'urn:ietf:rfc:8935'], poll_endpoint: `${ISSUER}/ssf/poll`,
    });
  });
});
