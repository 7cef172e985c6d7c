import { afterEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MAX_RECORD_FIELD_CHARS, TRUNCATION_MARK } from '../../src/audit/bounds.js';
import { DENIAL_WINDOW_MS } from '../../src/audit/guard.js';
import { MAX_ERROR_TEXT_CHARS } from '../../src/errors.js';
import { INVALID_CLIENT_BODY } from '../helpers/attack.js';
import { ADMIN_AUD, API, basic, clientCredentials, startSts, type TestSts } from '../helpers/sts.js';

/**
 * Issue 20, finding 7: unauthenticated callers could flood the trail (200 failed authentications
 * wrote 200 records, and count-based retention then evicts real history) and grow it without bound
 * (a 60 KB scope stored a 60 KB record). Now a caller that never authenticated is counted per
 * (endpoint, address, client id tried, reason) and window, and every string a record keeps is
 * bounded, with its original length; the chain still verifies.
 */

type Rec = Record<string, unknown> & { type: string };

const T0 = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();

describe('the trail under a flood of refusals (real Redis, a fake clock)', () => {
  let sts: TestSts;
  let now: number;
  afterEach(async () => {
    await sts.close();
  });

  async function start(): Promise<string> {
    now = T0;
    sts = await startSts({ clock: { nowMs: () => now }, trustProxy: 'loopback' });
    return (await clientCredentials(sts, 'auditor', ADMIN_AUD, 'audit:read')).access_token;
  }

  /** Every record in the stream, oldest first; the head read first, on the app's connection, waits for its pending appends. */
  async function trail(): Promise<{ body: Rec; bytes: number }[]> {
    await sts.deps.audit!.trail.head();
    const entries = (await sts.redis!.xrange(sts.keys!.auditStream(), '-', '+')) as [string, string[]][];
    return entries.map(([, f]) => {
      const raw = f[f.indexOf('body') + 1]!;
      return { body: JSON.parse(raw) as Rec, bytes: Buffer.byteLength(raw) };
    });
  }
  const denials = async () => (await trail()).map((r) => r.body).filter((b) => b.type.startsWith('token.denied'));

  const failAuth = (clientId = 'billing-agent', address = '192.0.2.1') => request(sts.app).post('/token').set('X-Forwarded-For', address)
    .set('Authorization', basic(clientId, 'x'.repeat(40))).type('form').send({ grant_type: 'client_credentials', resource: API });

  async function expectInvalidClient(res: request.Response): Promise<void> {
    expect(res.status).toBe(401);
    expect(res.text).toBe(INVALID_CLIENT_BODY);
    expect(res.headers['www-authenticate']).toBe('Basic realm="agent-sts"');
  }

  async function expectVerifies(auditor: string, records: number): Promise<void> {
    const res = await request(sts.app).get('/admin/audit/verify').set('Authorization', `Bearer ${auditor}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, checked: records, brokenAt: null });
  }

  const first = { type: 'token.denied', actor: null, endpoint: 'token', error: 'invalid_client', reason: 'client_authentication_failed', description: 'client authentication failed' };

  it('200 failed authentications from one address: one record at once, one with count 199 when the window closes, a new window a new record', async () => {
    const auditor = await start();
    for (let i = 0; i < 200; i++) {
      await expectInvalidClient(await failAuth());
      now += 100;
    }
    expect(await denials()).toEqual([{ ...first, time: iso(T0), requestId: expect.any(String), address: '192.0.2.1', clientId: 'billing-agent' }]);
    const api = await request(sts.app).get('/admin/audit?type=token.denied&agent=billing-agent').set('Authorization', `Bearer ${auditor}`);
    expect(api.status).toBe(200);
    expect(api.body.events).toEqual([expect.objectContaining({ clientId: 'billing-agent', address: '192.0.2.1', actor: null })]);

    now = T0 + DENIAL_WINDOW_MS;
    await expectInvalidClient(await failAuth());
    expect(await denials()).toEqual([
      { ...first, time: iso(T0), requestId: expect.any(String), address: '192.0.2.1', clientId: 'billing-agent' },
      { ...first, time: iso(now), requestId: expect.any(String), address: '192.0.2.1', clientId: 'billing-agent', count: 199, firstTime: iso(T0 + 100), lastTime: iso(T0 + 19_900) },
      { ...first, time: iso(now), requestId: expect.any(String), address: '192.0.2.1', clientId: 'billing-agent' },
    ]);
    // the auditor's token.issued and three refusal records: the trail, not the count of requests
    expect(await sts.redis!.xlen(sts.keys!.auditStream())).toBe(4);
    // the other sinks (metrics, this test's recorder) still see every refusal
    expect(sts.events.events.filter((e) => e.type === 'token.denied')).toHaveLength(201);
    await expectVerifies(auditor, 4);
  });

  it('distinct client ids and distinct addresses are counted apart, each naming what it tried', async () => {
    const auditor = await start();
    const callers: [string, string][] = [['billing-agent', '192.0.2.1'], ['sub-agent', '192.0.2.1'], ['billing-agent', '2001:db8::7'], ['no-such-agent', '192.0.2.1']];
    for (let i = 0; i < 3; i++) for (const [id, address] of callers) await expectInvalidClient(await failAuth(id, address));
    expect(await denials()).toEqual(callers.map(([clientId, address]) => ({ ...first, time: iso(T0), requestId: expect.any(String), address, clientId })));
    now += DENIAL_WINDOW_MS;
    sts.deps.trailGuard.flushDue(); // what its timer does every second in a running server
    expect((await denials()).slice(callers.length)).toEqual(callers.map(([clientId, address]) => ({
      ...first, time: iso(now), requestId: expect.any(String), address, clientId, count: 2, firstTime: iso(T0), lastTime: iso(T0),
    })));
    await expectVerifies(auditor, 1 + 2 * callers.length);
  });

  it('a 60 KB scope, client id or grant type is stored cut to the bound, with the mark and the original length; the chain verifies', async () => {
    const auditor = await start();
    const scope = 'a'.repeat(61_440);
    const description = `scope not within the agent's entitlement: ${scope}`;
    const res = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_scope', error_description: `${description.slice(0, MAX_ERROR_TEXT_CHARS - 3)}...` });

    const longId = 'c'.repeat(61_440);
    const unauthenticated = await request(sts.app).post('/token').type('form').send({ grant_type: 'client_credentials', resource: API, client_id: longId, client_secret: 'x'.repeat(40) });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });

    const grant = `urn:${'g'.repeat(61_440)}`;
    const unsupported = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form').send({ grant_type: grant });
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.error).toBe('unsupported_grant_type');

    const cut = (s: string) => `${s.slice(0, MAX_RECORD_FIELD_CHARS - 1)}${TRUNCATION_MARK}`;
    const records = (await trail()).filter((r) => r.body.type === 'token.denied');
    expect(records.map((r) => r.body)).toEqual([
      {
        type: 'token.denied', time: iso(T0), requestId: expect.any(String), actor: 'billing-agent', agent: 'billing-agent', grant: 'client_credentials', endpoint: 'token',
        error: 'invalid_scope', reason: 'scope_not_entitled', description: cut(description), address: '127.0.0.1', truncated: { description: description.length },
      },
      {
        ...first, time: iso(T0), requestId: expect.any(String), address: '127.0.0.1', clientId: cut(longId), truncated: { clientId: 61_440 },
      },
      {
        type: 'token.denied', time: iso(T0), requestId: expect.any(String), actor: 'billing-agent', agent: 'billing-agent', grant: cut(grant), endpoint: 'token',
        error: 'unsupported_grant_type', reason: 'unsupported_grant_type', description: cut(`grant_type '${grant}' is not supported`), address: '127.0.0.1',
        truncated: { grant: grant.length, description: `grant_type '${grant}' is not supported`.length },
      },
    ]);
    for (const r of records) expect(r.bytes).toBeLessThan(2_048);
    await expectVerifies(auditor, 4);
  });
});
