import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { REVOKED_SESSIONS_MEMBER, CAEP_SESSION_REVOKED } from 'agent-sts-gate/protocol';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { eventually } from '../helpers/wait.js';
import { Faults, type FaultRule } from '../helpers/faults.js';
import { sidOf } from '../helpers/responses.js';
import { ADMIN_AUD, API, basic, claims, introspect, OTHER_API, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * Issue 20, finding 4: a registry change is all or nothing. For disable, delete and a narrowing
 * PATCH, the store (or the trail, or one SSF stream) fails at each step in turn: before anything
 * (the request's record, the registry write) the change has not happened at all; after the
 * registry write it is in force at once on both instances (the token is refused at introspection
 * and no new one is issued) and the answer (503) names the pending change; a retry, or a sweep on
 * either instance once the change is abandoned, completes it: the status key, the kill and its
 * CAEP event, the outcome record; an enable then brings nothing back and works at once.
 */
const MANAGER = 'registry-manager';
const MANAGER_SECRET = 'registry-manager-secret-0123456789abcdef';
/** Past PENDING_GRACE_MS and ANNOUNCE_GRACE_MS: the change and its kill count as abandoned. */
const ABANDONED_MS = 6_000;

type Op = 'disable' | 'delete' | 'narrow';
type Expect = 'nothing' | 'applied' | 'done';
interface Cut { name: string; point: string; rule?: FaultRule; expect: Expect; ops?: Op[] }

const OUTCOME: Record<Op, string> = { disable: 'agent.disabled', delete: 'agent.deleted', narrow: 'agent.updated' };
const KILL_OUTCOME: Record<Op, string> = { disable: 'agent.sessions_revoked', delete: 'agent.sessions_revoked', narrow: 'session.revoked' };
const KILL_CALL: Record<Op, string> = { disable: 'sessions.revokeAgent', delete: 'sessions.revokeAgent', narrow: 'sessions.revokeTree' };

const cuts = (op: Op): Cut[] => ([
  { name: 'the trail, before anything (the request record)', point: 'audit.append', rule: { when: Faults.recordOf('registry.change_requested') }, expect: 'nothing' },
  { name: 'the registry write', point: 'registry.replace', expect: 'nothing' },
  { name: 'the status key', point: 'sessions.setAgentDisabled', expect: 'applied', ops: ['disable', 'delete'] },
  { name: "the kill's request record", point: 'audit.append', rule: { when: Faults.recordOf('revocation.requested') }, expect: 'applied' },
  { name: 'the kill itself (Redis frozen)', point: KILL_CALL[op], expect: 'applied' },
  { name: "the resource server's SSF stream", point: 'ssf.append', expect: 'applied' },
  { name: "the kill's outcome record", point: 'audit.append', rule: { when: Faults.recordOf(KILL_OUTCOME[op]) }, expect: 'applied' },
  { name: "the usage counts' removal", point: 'usage.forget', expect: 'applied', ops: ['delete'] },
  { name: "the change's outcome record", point: 'audit.append', rule: { when: Faults.recordOf(OUTCOME[op]) }, expect: 'applied' },
  { name: 'clearing the pending mark', point: 'registry.replace', rule: { when: (args: unknown[]) => !String(args[3]).includes('"pending"') }, expect: 'done' },
] as Cut[]).filter((c) => !c.ops || c.ops.includes(op));

const registry = () => testRegistry({
  agents: [{ id: MANAGER, owner: 'platform', secretHash: hashSecret(MANAGER_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }],
});

/** Bound on waiting for the other instance's registry copy to hear a change (announcement, or its 1 s version poll). */
const VISIBLE_WITHIN_MS = 3_000;
const visible = { withinMs: VISIBLE_WITHIN_MS };

describe.each(['retry', 'sweep'] as const)('a registry change cut at each step, completed by a %s', (completion) => {
  const faults = new Faults();
  let clockMs = Date.now();
  const clock = { nowMs: () => clockMs };
  let a: TestSts;
  let b: TestSts;
  let admin: string;
  let n = 0;

  beforeAll(async () => {
    a = await startSts({ live: true, registry: registry(), clock, faults });
    b = await startSts({ live: true, registry: registry(), clock, prefix: a.prefix });
    const res = await request(a.app).post('/token').set('Authorization', basic(MANAGER, MANAGER_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    admin = res.body.access_token as string;
  });
  afterAll(async () => {
    faults.heal();
    await a?.close();
    await b?.close();
  });

  const adminCall = (method: 'get' | 'post' | 'patch' | 'delete', path: string, body?: object) => {
    const r = request(a.app)[method](`/admin${path}`).set('Authorization', `Bearer ${admin}`);
    return body ? r.send(body) : r;
  };
  const change = (op: Op, id: string) =>
    op === 'disable' ? adminCall('post', `/agents/${id}/disable`)
      : op === 'delete' ? adminCall('delete', `/agents/${id}`)
        : adminCall('patch', `/agents/${id}`, { audiences: { [API]: null } });
  const active = async (t: string) => [(await introspect(a, t)).body.active, (await introspect(b, t)).body.active];
  /** The sessions every SET waiting for API lists (read, not acknowledged). */
  const announced = async () => {
    const res = await request(a.app).post('/ssf/poll').set('Authorization', basic(API)).send({ returnImmediately: true, maxEvents: 1_000 });
    return Object.values(res.body.sets as Record<string, string>).flatMap((set) => {
      const events = claims(set).events as Record<string, Record<string, { sid: string }[]>>;
      return (events[CAEP_SESSION_REVOKED]?.[REVOKED_SESSIONS_MEMBER] ?? []).map((s) => s.sid);
    });
  };
  const recorded = (sts: TestSts, type: string, agent: string) => sts.events.events.filter((e) => e.type === type && (e as { agent?: string }).agent === agent);

  describe.each(['disable', 'delete', 'narrow'] as const)('%s', (op) => {
    it.each(cuts(op).map((c) => [c.name, c] as const))('cut at %s', async (_name, cut) => {
      const id = `cut-${completion}-${op}-${++n}`;
      const created = await adminCall('post', '/agents', { id, owner: 'tests', audiences: { [API]: ['invoices:read'], [OTHER_API]: ['reports:read'] } });
      expect(created.status).toBe(201);
      const secret = created.body.client_secret as string;
      const tok = (sts: TestSts) => request(sts.app).post('/token').set('Authorization', basic(id, secret)).type('form')
        .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
      clockMs += 2_000; // past any kill marker
      const held = (await tok(a)).body.access_token as string;
      expect(await active(held)).toEqual([true, true]);

      faults.fired.length = 0;
      faults.fail(cut.point, cut.rule);
      const res = await change(op, id);
      faults.heal();

      if (cut.expect === 'nothing') {
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 503, error: 'temporarily_unavailable' });
        expect(res.body.pending).toBeUndefined();
        const now = await adminCall('get', `/agents/${id}`);
        expect(now.body).toMatchObject({ disabled: false, pending: null, audiences: { [API]: ['invoices:read'] } });
        expect(await active(held)).toEqual([true, true]);
        expect((await tok(b)).status).toBe(200);
        expect(recorded(a, OUTCOME[op], id)).toEqual([]);
        return;
      }
      expect(faults.fired).toContain(cut.point);
      if (cut.expect === 'applied') {
        expect({ status: res.status, error: res.body.error, pending: res.body.pending }).toEqual({ status: 503, error: 'temporarily_unavailable', pending: op === 'narrow' ? 'update' : op });
        expect(res.body.error_description).toMatch(/Retrying completes it/);
      } else expect(res.status).toBe(200);
      // in force at once, on both instances, whatever failed after the registry write
      expect(await active(held)).toEqual([false, false]);
      for (const sts of [a, b]) expect((await tok(sts)).status).not.toBe(200);

      if (completion === 'retry' && cut.expect === 'applied') {
        const again = await change(op, id);
        expect(again.status).toBe(200);
      } else {
        clockMs += ABANDONED_MS;
        const context = { requestId: `test-sweep-${n}`, startedMs: clockMs };
        // another instance finishes what this one abandoned
        await b.deps.liveRegistry!.service.completeAbandoned(context);
        await b.deps.announcer.drain(context);
      }
      const after = await adminCall('get', `/agents/${id}`);
      if (op === 'delete') expect(after.status).toBe(404);
      else expect(after.body).toMatchObject({ pending: null, ...(op === 'disable' ? { disabled: true } : { audiences: { [OTHER_API]: ['reports:read'] } }) });
      expect(await active(held)).toEqual([false, false]);
      expect(await announced()).toContain(sidOf(held));
      const outcomes = [...recorded(a, OUTCOME[op], id), ...recorded(b, OUTCOME[op], id)];
      expect(outcomes.length).toBeGreaterThanOrEqual(1);
      if (op === 'disable') {
        const review = await adminCall('get', `/agents/${id}/access`);
        expect(review.body.findings.map((f: { kind: string }) => f.kind)).not.toContain('disabled_but_holding');
        const enabled = await adminCall('post', `/agents/${id}/enable`);
        expect(enabled.status).toBe(200);
        // enable brings nothing back, and works at once (no wait for the kill marker's allowance)
        expect(await active(held)).toEqual([false, false]);
        expect((await eventually(() => tok(b), (r) => r.status === 200, visible)).status).toBe(200);
      }
    });
  });
});

it('a registry change that cannot record its request changes nothing: the memory store too', async () => {
  const faults = new Faults();
  const sts = await startSts({ store: 'memory', live: true, registry: registry(), faults });
  try {
    const res = await request(sts.app).post('/token').set('Authorization', basic(MANAGER, MANAGER_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    const admin = res.body.access_token as string;
    const held = (await token(sts)).body.access_token as string;
    faults.fail('audit.append', { when: Faults.recordOf('registry.change_requested') });
    const off = await request(sts.app).post('/admin/agents/leaf-agent/disable').set('Authorization', `Bearer ${admin}`);
    expect(off.status).toBe(503);
    expect((await introspect(sts, held)).body.active).toBe(true);
    expect((await request(sts.app).get('/admin/agents/leaf-agent').set('Authorization', `Bearer ${admin}`)).body).toMatchObject({ disabled: false, pending: null });
  } finally {
    await sts.close();
  }
});

function token(sts: TestSts) {
  return request(sts.app).post('/token').set('Authorization', basic('leaf-agent')).type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
}
