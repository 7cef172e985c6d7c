import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { ADMIN_AUD, API, clientCredentials, startSts, type StoreKind, type TestSts } from '../helpers/sts.js';

/**
 * Issue 20, finding 10: out-of-range audit filters (a date before 1970, the cursor 0-0) reached
 * Redis, which refused the stream id, and answered 503 "session store unavailable". They are the
 * caller's mistakes: 400 invalid_request naming the parameter, before any store is asked, and the
 * trail is unchanged. The same holds on the memory store.
 */

describe.each<StoreKind>(['redis', 'memory'])('audit filters out of range (%s store)', (store) => {
  let sts: TestSts;
  let auditor: string;

  beforeAll(async () => {
    sts = await startSts({ store });
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    auditor = (await clientCredentials(sts, 'auditor', ADMIN_AUD, 'audit:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  const list = (query: string) => request(sts.app).get(`/admin/audit?${query}`).set('Authorization', `Bearer ${auditor}`);
  const before1970 = "must not be before 1970-01-01T00:00:00Z";
  const cases: [string, string, string][] = [
    ['since=0001-01-01T00:00:00Z', 'since', before1970],
    ['since=1969-12-31T23:59:59Z', 'since', before1970],
    ['until=1969-12-31T23:59:59.999Z', 'until', before1970],
    ['until=1970-01-01T00:30:00%2B01:00', 'until', before1970],
    ['since=0000-01-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'since', before1970],
    ['cursor=0-0', 'cursor', 'must be a cursor this endpoint returned'],
    ['cursor=000-000', 'cursor', 'must be a cursor this endpoint returned'],
    ['since=2026-02-31T00:00:00Z', 'since', 'names no such date or hour'],
    ['until=2026-01-01T24:00:00Z', 'until', 'names no such date or hour'],
  ];

  it.each(cases)('%s → 400 naming %s, the trail unchanged', async (query, name, why) => {
    const head = await sts.deps.audit!.trail.head();
    const res = await list(query);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: `query parameter '${name}' ${why}` });
    expect(await sts.deps.audit!.trail.head()).toEqual(head);
  });

  it('the edges still answer: since the epoch lists everything, a cursor before the first record lists nothing', async () => {
    const all = await list('since=1970-01-01T00:00:00Z&until=9999-12-31T23:59:59.999Z');
    expect(all.status).toBe(200);
    expect(all.body.events.map((e: { type: string }) => e.type)).toEqual(['token.issued', 'token.issued']);
    const none = await list('cursor=0-1');
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ events: [], next: null });
  });
});
