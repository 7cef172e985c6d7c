import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Faults, type FaultRule } from '../helpers/faults.js';
import { API, introspect, startSts, type TestSts } from '../helpers/sts.js';
import {
  PROVISIONER, SCIM_ERROR, newAgent, patchOps, provisionerToken, registryAdminToken, rotateSecret, scimClient, scimRegistry, tokenOf, type ScimClient,
} from '../helpers/scim.js';

/**
 * A SCIM deprovisioning (PATCH active:false, DELETE) with Redis failing at a cut point: before the
 * registry write nothing is changed (503, the agent's token still live on both instances); after
 * it the kill is in force at once on both instances, the 503 says what is pending, and the IdP's
 * retry of the same request completes it, recorded once.
 */
type Op = 'deactivate' | 'delete';
interface Cut { name: string; point: string; rule?: FaultRule; expect: 'nothing' | 'applied' }

const CUTS: Cut[] = [
  { name: 'the request record (trail unwritable)', point: 'audit.append', rule: { when: Faults.recordOf('registry.change_requested') }, expect: 'nothing' },
  { name: 'the registry write (Redis frozen)', point: 'registry.replace', expect: 'nothing' },
  { name: 'the status key', point: 'sessions.setAgentDisabled', expect: 'applied' },
  { name: 'the kill itself', point: 'sessions.revokeAgent', expect: 'applied' },
  { name: 'the outcome record', point: 'audit.append', rule: { when: (args) => Faults.recordOf('agent.disabled')!(args) || Faults.recordOf('agent.deleted')!(args) }, expect: 'applied' },
];
const OUTCOME: Record<Op, string> = { deactivate: 'agent.disabled', delete: 'agent.deleted' };

describe('SCIM deprovisioning cut at each step', () => {
  const faults = new Faults();
  const clock = { nowMs: () => Date.now() };
  let a: TestSts;
  let b: TestSts;
  let scim: ScimClient;
  let admin: string;
  let n = 0;

  beforeAll(async () => {
    a = await startSts({ live: true, registry: scimRegistry(), clock, faults });
    b = await startSts({ live: true, registry: scimRegistry(), clock, prefix: a.prefix });
    scim = scimClient(a, await provisionerToken(a));
    admin = await registryAdminToken(a);
  });
  afterAll(async () => {
    faults.heal();
    await a?.close();
    await b?.close();
  });

  const call = (op: Op, id: string) => (op === 'delete' ? scim.delete(`/Agents/${id}`) : scim.patch(`/Agents/${id}`, patchOps({ op: 'Replace', path: 'active', value: 'False' })));
  const active = async (t: string) => [(await introspect(a, t)).body.active, (await introspect(b, t)).body.active];
  const outcomes = (op: Op, id: string) => a.events.events.filter((e) => e.type === OUTCOME[op] && (e as { agent?: string }).agent === id);

  describe.each(['deactivate', 'delete'] as const)('%s', (op) => {
    it.each(CUTS.map((c) => [c.name, c] as const))('cut at %s', async (_name, cut) => {
      const created = await scim.post('/Agents', newAgent(`cut-${op}-${++n}`));
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      const token = await tokenOf(a, id, await rotateSecret(a, admin, id), API, 'invoices:read');
      expect(await active(token)).toEqual([true, true]);

      faults.fired.length = 0;
      faults.fail(cut.point, cut.rule);
      const res = await call(op, id);
      faults.heal();
      expect(faults.fired).toContain(cut.point);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toMatchObject({ schemas: [SCIM_ERROR], status: '503' });

      if (cut.expect === 'nothing') {
        expect(await active(token)).toEqual([true, true]);
        expect((await scim.get(`/Agents/${id}`)).body).toMatchObject({ id, active: true });
        expect(outcomes(op, id)).toEqual([]);
      } else {
        expect(res.body.detail).toMatch(/still to do: .*Retrying completes it/);
        // in force at once on both instances, whatever failed after the registry write
        expect(await active(token)).toEqual([false, false]);
      }
      const retry = await call(op, id);
      expect(retry.status).toBe(op === 'delete' ? 204 : 200);
      expect(await active(token)).toEqual([false, false]);
      // the recording sink also saw the outcome record whose append failed: the retry's completes that request
      const outcomeCut = cut.rule !== undefined && cut.expect === 'applied';
      expect(outcomes(op, id)).toEqual([
        ...(outcomeCut ? [expect.objectContaining({ by: PROVISIONER })] : []),
        expect.objectContaining({ by: PROVISIONER, ...(cut.expect === 'applied' ? { completes: expect.any(String) } : {}) }),
      ]);
      const json = await a.deps.liveRegistry!.store.get('agent', id);
      expect(JSON.parse(json!)).not.toHaveProperty('pending');
      expect(JSON.parse(json!)).toMatchObject(op === 'delete' ? { deleted: expect.any(String) } : { disabled: true });
    });
  });
});
