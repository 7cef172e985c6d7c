import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { eventually } from '../helpers/wait.js';
import {
  ADMIN_AUD, adminToken, API, clientCredentials, exchange, introspect, OTHER_API, startSts, type StoreKind, type TestSts,
} from '../helpers/sts.js';

/**
 * The live access review: entitlements from the registry, held sessions, usage counted in process
 * and flushed, unused entitlements, delegation and findings, matching exactly what the test did.
 */

type Res = request.Response;
const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

describe.each<StoreKind>(['redis', 'memory'])('access review (%s store)', (store) => {
  let sts: TestSts;
  let reviewer: string;
  const get = (path: string, accept = 'application/json') => request(sts.app).get(path).set('Authorization', `Bearer ${reviewer}`).set('Accept', accept);

  beforeAll(async () => {
    sts = await startSts({ store });
    reviewer = (await clientCredentials(sts, 'auditor', ADMIN_AUD, 'agents:read')).access_token;
    const a = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await exchange(sts, 'sub-agent', a, API, 'invoices:read')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await introspect(sts, a)).body.active).toBe(true);
  });
  afterAll(async () => {
    await sts.close();
  });

  it('one agent: entitlements, held, usage, unused, delegation and findings match what happened', async () => {
    const res: Res = await get('/admin/agents/billing-agent/access?days=30');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      agent: 'billing-agent', owner: 'team-billing', disabled: false,
      window: { days: 30, since: ISO, until: ISO, complete: true, coveredDays: 30 },
      entitlements: { [API]: ['invoices:read', 'invoices:write'], [OTHER_API]: ['reports:read'] },
      held: [{ target: API, scope: 'invoices:read', sessions: 2, delegated: 0 }],
      usage: [{ target: API, scope: 'invoices:read', issued: 2, lastIssued: ISO, introspected: 3, lastIntrospected: ISO }],
      unused: [{ target: API, scope: 'invoices:write' }, { target: OTHER_API, scope: 'reports:read' }],
      delegation: { delegates: [{ agent: 'sub-agent', used: true }], actsFor: [] },
      credentials: [],
      findings: [
        { kind: 'unused_entitlement', detail: `invoices:write at ${API}: no issuance in 30 days` },
        { kind: 'unused_entitlement', detail: `reports:read at ${OTHER_API}: no issuance in 30 days` },
      ],
    });
  });

  it('the delegate: its delegated session counted apart, whom it acted for, no owner, its unused delegate', async () => {
    const res: Res = await get('/admin/agents/sub-agent/access');
    expect(res.body.held).toEqual([{ target: API, scope: 'invoices:read', sessions: 0, delegated: 1 }]);
    expect(res.body.usage).toEqual([expect.objectContaining({ target: API, scope: 'invoices:read', issued: 1, introspected: 0, lastIntrospected: null })]);
    expect(res.body.delegation).toEqual({ delegates: [{ agent: 'leaf-agent', used: false }], actsFor: [{ agent: 'billing-agent', used: true }] });
    expect(res.body.findings).toEqual(expect.arrayContaining([
      { kind: 'no_owner', detail: 'the registry names no owner for this agent' },
      { kind: 'unused_delegate', detail: 'leaf-agent may act for this agent but did not in 30 days' },
      { kind: 'unused_entitlement', detail: `invoices:write at ${API}: no issuance in 30 days` },
    ]));
  });

  it('a disabled agent holds nothing, so disabled_but_holding is absent', async () => {
    const res: Res = await get('/admin/agents/disabled-agent/access');
    expect(res.body).toMatchObject({ disabled: true, held: [] });
    expect((res.body.findings as { kind: string }[]).map((f) => f.kind)).not.toContain('disabled_but_holding');
  });

  it('a window longer than usage is kept says so', async () => {
    const res: Res = await get('/admin/agents/billing-agent/access?days=400');
    expect(res.body.window).toEqual({ days: 400, since: ISO, until: ISO, complete: false, coveredDays: 90, note: expect.stringContaining('only the last 90 days') });
  });

  it('every agent, as JSON and as CSV', async () => {
    const json: Res = await get('/admin/access-review?days=7');
    expect(json.status).toBe(200);
    expect((json.body.agents as { agent: string }[]).map((a) => a.agent)).toEqual(expect.arrayContaining(['billing-agent', 'sub-agent', 'disabled-agent', 'auditor']));
    const csv: Res = await get('/admin/access-review?days=7', 'text/csv');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('agent,owner,disabled,kind,target,scope,detail');
    expect(lines).toContain(`billing-agent,team-billing,false,entitlement,${API},invoices:write,unused`);
    expect(lines).toContain(`billing-agent,team-billing,false,held,${API},invoices:read,"2 root, 0 delegated"`);
    expect(lines).toContain(`billing-agent,team-billing,false,unused_entitlement,,,${`reports:read at ${OTHER_API}: no issuance in 7 days`}`);
  });

  it('refuses: bad days is 400 naming it, an unknown agent 404, another admin scope 403', async () => {
    for (const q of ['0', 'abc', '99999', '1.5']) {
      const res: Res = await get(`/admin/agents/billing-agent/access?days=${q}`);
      expect(res.status).toBe(400);
      expect(res.body.error_description).toContain("'days'");
    }
    expect((await get('/admin/agents/nobody/access')).status).toBe(404);
    const admin = await adminToken(sts);
    expect((await request(sts.app).get('/admin/access-review').set('Authorization', `Bearer ${admin}`)).status).toBe(403);
  });
});

describe('access review on the live registry: credentials with their age and last use', () => {
  let sts: TestSts;
  let clockMs = Date.now();
  const DAY_MS = 86_400_000;

  beforeAll(async () => {
    sts = await startSts({ live: true, clock: { nowMs: () => clockMs } });
  });
  afterAll(async () => {
    await sts.close();
  });

  const review = async () => {
    const reviewer = (await clientCredentials(sts, 'auditor', ADMIN_AUD, 'agents:read')).access_token;
    return request(sts.app).get('/admin/agents/billing-agent/access').set('Authorization', `Bearer ${reviewer}`);
  };

  it('lists the seeded secret with its creation time, and its last use once the agent used it', async () => {
    const before = await review();
    expect(before.body.credentials).toEqual([{ kind: 'secret', created: ISO, lastUsed: null }]);
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    // lastUsed is written off the request path: wait for it, bounded
    const lastUsed: unknown = await eventually(async () => (await review()).body.credentials[0].lastUsed, (v) => v !== null, { withinMs: 1_000 });
    expect(lastUsed).toEqual(ISO);
    expect(before.body.findings.filter((f: { kind: string }) => f.kind === 'stale_credential')).toEqual([]);
  });

  it('a credential older than STS_STALE_CREDENTIAL_DAYS (90) is a stale_credential finding', async () => {
    clockMs += 91 * DAY_MS;
    const res = await review();
    expect(res.body.findings).toEqual(expect.arrayContaining([{ kind: 'stale_credential', detail: expect.stringMatching(/^secret created .* older than 90 days$/) }]));
  });
});
