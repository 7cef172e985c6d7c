import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { fanOut, RecordingEventSink, type BestEffortEvent, type DurableEvent, type EventSink } from '../../src/audit/events.js';
import { grantsOf } from '../../src/deps.js';
import { SessionService } from '../../src/sessions/service.js';
import { expectOAuthError, sidOf } from '../helpers/responses.js';
import { adminToken, API, basic, clientCredentials, introspect, redisState, startSts, type TestSts } from '../helpers/sts.js';

/**
 * The event sink contract (src/audit/events.ts): durable events (issuance, kills) are recorded
 * before the answer and a failure to record fails the request closed (503, no token); best-effort
 * events (denials) never change an answer, and one failing sink does not starve the others.
 */

/** A whole second a little ahead of real time: Redis expiries stay in the future. */
const T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
const ccForm = { grant_type: 'client_credentials', resource: API, scope: 'invoices:read' };

const throwingEmit: EventSink = {
  record: async () => {},
  emit: () => {
    throw new Error('sink is broken');
  },
};
const rejectingRecord: EventSink = {
  record: async () => {
    throw new Error('audit store down');
  },
  emit: () => {},
};

/** Log lines of a logger, parsed. */
function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('event sinks', () => {
  let sts: TestSts;
  let now = T0;
  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
  });
  afterAll(async () => {
    await sts.close();
  });

  /** The same deployment with `sinks` fanned out behind one sink, as deps.ts wires them (the grants close over the new sessions). */
  function appWith(...sinks: EventSink[]) {
    const { log, lines } = capturingLog();
    const events = fanOut(log, ...sinks);
    const d = sts.deps;
    const sessions = new SessionService(d.stores.sessions, d.keys, d.issuer, d.registry, events, { clock: { nowMs: () => now } });
    return { app: createApp({ ...d, sessions, events, grants: grantsOf(sessions, d.registry, d.replay, () => now) }, log), lines };
  }
  const token = (app: ReturnType<typeof appWith>['app'], form: Record<string, string> = ccForm) =>
    request(app).post('/token').set('Authorization', basic('billing-agent')).type('form').send(form);

  describe('every event carries time (service clock), requestId and actor', () => {
    it('token.issued', async () => {
      const n = sts.events.events.length;
      const res = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).set('X-Request-Id', 'ev-1').type('form').send(ccForm);
      expect(res.status).toBe(200);
      expect(sts.events.events.slice(n)).toEqual([{
        type: 'token.issued', time: new Date(T0).toISOString(), requestId: 'ev-1', actor: 'billing-agent',
        sid: sidOf(res.body.access_token as string), agent: 'billing-agent', sub: 'billing-agent', aud: API, scope: ['invoices:read'],
        exp: T0 / 1000 + 300, ttl: 300, grant: 'client_credentials',
      }]);
    });

    it('token.denied at /token names the endpoint and the address; an unauthenticated caller has a null actor and the client id it tried', async () => {
      const n = sts.events.events.length;
      await request(sts.app).post('/token').set('Authorization', basic('billing-agent', 'x'.repeat(40))).set('X-Request-Id', 'ev-2').type('form').send(ccForm);
      expect(sts.events.events.slice(n)).toEqual([{
        type: 'token.denied', time: new Date(T0).toISOString(), requestId: 'ev-2', actor: null, endpoint: 'token',
        error: 'invalid_client', reason: 'client_authentication_failed', description: 'client authentication failed',
        address: '127.0.0.1', clientId: 'billing-agent',
      }]);
    });

    it('/introspect and /revoke emit token.denied for failed client authentication, and nothing for other refusals', async () => {
      const n = sts.events.events.length;
      const intro = await request(sts.app).post('/introspect').set('Authorization', basic(API, 'x'.repeat(40))).set('X-Request-Id', 'ev-3').type('form').send({ token: 'x' });
      const rev = await request(sts.app).post('/revoke').set('X-Request-Id', 'ev-4').type('form').send({ token: 'x' });
      expectOAuthError(intro, 401, 'invalid_client');
      expectOAuthError(rev, 401, 'invalid_client');
      const time = new Date(T0).toISOString();
      expect(sts.events.events.slice(n)).toEqual([
        {
          type: 'token.denied', time, requestId: 'ev-3', actor: null, endpoint: 'introspect', error: 'invalid_client', reason: 'client_authentication_failed',
          description: 'client authentication failed', address: '127.0.0.1', clientId: API,
        },
        { type: 'token.denied', time, requestId: 'ev-4', actor: null, endpoint: 'revoke', error: 'invalid_client', reason: 'invalid_client', description: 'client authentication required', address: '127.0.0.1' },
      ]);
      const m = sts.events.events.length;
      expectOAuthError(await request(sts.app).post('/introspect').set('Authorization', basic(API)).type('form').send({}), 400, 'invalid_request');
      expect(sts.events.events.slice(m)).toEqual([]);
    });

    it('an admin kill carries the admin\'s client id as actor and its token\'s session id as adminSid', async () => {
      const admin = await adminToken(sts);
      const target = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      now = T0 + 5_000;
      const n = sts.events.events.length;
      const res = await request(sts.app).delete(`/admin/sessions/${sidOf(target)}`).set('Authorization', `Bearer ${admin}`).set('X-Request-Id', 'ev-5');
      expect(res.body).toEqual({ revoked: 1 });
      expect(sts.events.events.slice(n)).toEqual([{
        type: 'revocation.requested', time: new Date(T0 + 5_000).toISOString(), requestId: 'ev-5', actor: 'admin', adminSid: sidOf(admin),
        of: 'session', sid: sidOf(target), by: 'admin', reason: 'admin',
      }, {
        type: 'session.revoked', time: new Date(T0 + 5_000).toISOString(), requestId: 'ev-5', actor: 'admin', adminSid: sidOf(admin),
        sid: sidOf(target), revoked: 1, sessions: [{ sid: sidOf(target), aud: API, agent: 'billing-agent', sub: 'billing-agent', exp: expect.any(Number) }], by: 'admin', reason: 'admin',
      }]);
      now = T0;
    });
  });

  describe('a sink whose emit throws', () => {
    it('changes no answer: a 200 stays a 200 with its token, a refusal stays that refusal', async () => {
      const other = new RecordingEventSink();
      const { app, lines } = appWith(throwingEmit, other);
      const ok = await token(app);
      expect(ok.status).toBe(200);
      expect(typeof ok.body.access_token).toBe('string');
      expect((await introspect(sts, ok.body.access_token as string)).body.active).toBe(true);
      expectOAuthError(await token(app, { ...ccForm, scope: 'invoices:delete' }), 400, 'invalid_scope');
      expectOAuthError(await request(app).post('/introspect').type('form').send({ token: 'x' }), 401, 'invalid_client');
      expect(lines.filter((l) => l.msg === 'event sink failed; event dropped for that sink')).toHaveLength(2);
    });

    it('the other sinks still get the event', async () => {
      const other = new RecordingEventSink();
      const { app } = appWith(throwingEmit, other);
      await token(app, { ...ccForm, scope: 'invoices:delete' }).set('X-Request-Id', 'iso-1');
      expect(other.events).toEqual([expect.objectContaining({ type: 'token.denied', requestId: 'iso-1', error: 'invalid_scope' })]);
    });
  });

  describe('a sink whose record rejects: fail closed', () => {
    it('issuance answers 503 temporarily_unavailable with no token; the session was stored, its token never left', async () => {
      const other = new RecordingEventSink();
      const { app, lines } = appWith(rejectingRecord, other);
      const before = await redisState(sts);
      const res = await token(app).set('X-Request-Id', 'rec-1');
      expectOAuthError(res, 503, 'temporarily_unavailable');
      expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: 'audit trail unavailable' });
      expect(res.headers['retry-after']).toBe('1');
      expect(res.text).not.toMatch(/access_token|eyJ/);
      expect((await redisState(sts)).filter((k) => !before.includes(k)).length).toBeGreaterThan(0);
      expect(other.events.map((e) => e.type)).toEqual(['token.issued', 'token.denied']);
      expect(other.events[1]).toMatchObject({ requestId: 'rec-1', error: 'temporarily_unavailable' });
      expect(lines).toContainEqual(expect.objectContaining({ requestId: 'rec-1', msg: 'temporarily_unavailable' }));
    });

    it('a kill whose request cannot be recorded answers 503 and kills nothing, at /revoke and the admin API; a retry kills', async () => {
      const { app } = appWith(rejectingRecord);
      const admin = await adminToken(sts);
      const mine = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const theirs = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const rev = await request(app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: mine });
      expectOAuthError(rev, 503, 'temporarily_unavailable');
      const kill = await request(app).delete(`/admin/sessions/${sidOf(theirs)}`).set('Authorization', `Bearer ${admin}`);
      expectOAuthError(kill, 503, 'temporarily_unavailable');
      expect((await introspect(sts, mine)).body.active).toBe(true);
      expect((await introspect(sts, theirs)).body.active).toBe(true);
      expect((await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: mine })).status).toBe(200);
      expect((await request(sts.app).delete(`/admin/sessions/${sidOf(theirs)}`).set('Authorization', `Bearer ${admin}`)).body).toEqual({ revoked: 1 });
      expect((await introspect(sts, mine)).body).toEqual({ active: false });
      expect((await introspect(sts, theirs)).body).toEqual({ active: false });
    });

    it('a kill whose request is recorded but whose outcome is not answers 503: it happened (the request record says so), a retry is harmless', async () => {
      const requests = new RecordingEventSink();
      const outcomeFails: EventSink = {
        record: async (e) => {
          if (e.type !== 'revocation.requested') throw new Error('audit store down');
          await requests.record(e);
        },
        emit: () => {},
      };
      const { app } = appWith(outcomeFails);
      const admin = await adminToken(sts);
      const theirs = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const kill = await request(app).delete(`/admin/sessions/${sidOf(theirs)}`).set('Authorization', `Bearer ${admin}`).set('X-Request-Id', 'half-1');
      expectOAuthError(kill, 503, 'temporarily_unavailable');
      expect((await introspect(sts, theirs)).body).toEqual({ active: false });
      expect(requests.events).toEqual([expect.objectContaining({ type: 'revocation.requested', of: 'session', sid: sidOf(theirs), requestId: 'half-1', by: 'admin', reason: 'admin' })]);
      expect((await request(app).delete(`/admin/sessions/${sidOf(theirs)}`).set('Authorization', `Bearer ${admin}`)).status).toBe(503);
      expect((await request(sts.app).delete(`/admin/sessions/${sidOf(theirs)}`).set('Authorization', `Bearer ${admin}`)).body).toEqual({ revoked: 0 });
    });
  });

  it('fanOut.record resolves only when every sink recorded, and emit reaches every sink in order', async () => {
    const a = new RecordingEventSink();
    const b = new RecordingEventSink();
    const { log } = capturingLog();
    const both = fanOut(log, a, b);
    const durable = { type: 'agent.sessions_revoked', time: 't', requestId: 'r', actor: 'x', agent: 'y', revoked: 0, sessions: [], by: 'x' } as DurableEvent;
    const denied = { type: 'token.denied', time: 't', requestId: 'r', actor: null, endpoint: 'token', error: 'invalid_request', reason: 'invalid_request' } as BestEffortEvent;
    await both.record(durable);
    both.emit(denied);
    expect(a.events).toEqual([durable, denied]);
    expect(b.events).toEqual([durable, denied]);
    await expect(fanOut(log, a, rejectingRecord).record(durable)).rejects.toThrow('audit store down');
  });
});
