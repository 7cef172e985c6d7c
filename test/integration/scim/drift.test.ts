import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import { StoreUnavailableError } from '../../../src/errors.js';
import { PROBE_AGENT_PREFIX, PROBE_OWNER } from '../../../src/probe/agents.js';
import { API, startSts, type TestSts } from '../../helpers/sts.js';
import { newAgent, patchOps, provisionerToken, registryAdminToken, scimClient, scimRegistry } from '../../helpers/scim.js';

/**
 * Drift against the IdP on real Redis, with the service clock moved (never real time): an IdP's
 * sync (filtered GETs, reads, PATCHes) keeps its agents seen, at most one write per agent an hour;
 * an agent it stopped seeing, or one made by hand beside its estate, is not_in_directory; an
 * owner naming an agent the registry no longer holds is owner_missing.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
type Finding = { kind: string; detail: string };
type Review = { agent: string; findings: Finding[] };

describe('SCIM drift in the access review', () => {
  let sts: TestSts;
  // the service clock starts on the next hour (after the signing key was made) and only moves forward
  const t0 = Math.ceil(Date.now() / HOUR) * HOUR;
  let clockMs = t0;
  const clock = { nowMs: () => clockMs };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    sts = await startSts({ live: true, registry: scimRegistry(), clock });
  });
  afterAll(async () => {
    await sts?.close();
  });

  /** Tokens are fresh at the moved clock. */
  const scim = async () => scimClient(sts, await provisionerToken(sts));
  const admin = async () => {
    const token = await registryAdminToken(sts);
    return {
      create: (body: Record<string, unknown>) => request(sts.app).post('/admin/agents').set('Authorization', `Bearer ${token}`).send(body),
      post: (path: string) => request(sts.app).post(path).set('Authorization', `Bearer ${token}`),
      review: (accept = 'application/json') => request(sts.app).get('/admin/access-review').set('Authorization', `Bearer ${token}`).set('Accept', accept),
      one: (id: string) => request(sts.app).get(`/admin/agents/${encodeURIComponent(id)}/access`).set('Authorization', `Bearer ${token}`),
    };
  };
  const drift = (r: Review) => r.findings.filter((f) => f.kind === 'not_in_directory' || f.kind === 'owner_missing');
  async function driftByAgent(): Promise<Record<string, Finding[]>> {
    const res = await (await admin()).review();
    expect(res.status).toBe(200);
    return Object.fromEntries((res.body.agents as Review[]).map((r) => [r.agent, drift(r)]));
  }
  const seenHash = async () => sts.redis!.hgetall(sts.keys!.scimSeen());
  const hand = (id: string, owner: string) => ({ id, owner, audiences: { [API]: ['invoices:read'] } });

  it('no agent provisioned by SCIM: an agent made by hand is not flagged, nor is anyone', async () => {
    const a = await admin();
    expect((await a.create(hand('hand-made', 'bob@example.com'))).status).toBe(201);
    expect(Object.values(await driftByAgent()).flat()).toEqual([]);
  });

  it('once the IdP provisions agents, an enabled agent made by hand beside them is not_in_directory; a disabled one, the file\'s, the provisioning client and the probe\'s are not', async () => {
    const s = await scim();
    for (const ext of ['synced', 'forgotten']) {
      const res = await s.post('/Agents', newAgent(ext));
      expect(res.status).toBe(201);
      ids[ext] = res.body.id as string;
    }
    const a = await admin();
    expect((await a.create(hand('hand-disabled', 'bob@example.com'))).status).toBe(201);
    expect((await a.post('/admin/agents/hand-disabled/disable')).status).toBe(200);
    expect((await a.create(hand(`${PROBE_AGENT_PREFIX}api`, PROBE_OWNER))).status).toBe(201);
    const found = await driftByAgent();
    expect(found['hand-made']).toEqual([{ kind: 'not_in_directory', detail: expect.stringContaining('created through the admin API beside agents provisioned by SCIM') }]);
    for (const id of ['hand-disabled', `${PROBE_AGENT_PREFIX}api`, 'idp-provisioner', 'registry-admin', ids.synced!, ids.forgotten!]) expect([id, found[id]]).toEqual([id, []]);
    // the per-agent review says the same
    expect(drift((await a.one('hand-made')).body as Review)).toEqual(found['hand-made']);
  });

  it('the IdP\'s sync (a filtered GET, a read, a PATCH) records a sighting, at most one write per agent an hour', async () => {
    const store = sts.deps.stores.scimSeen!;
    const see = jest.spyOn(store, 'see');
    try {
      clockMs = t0 + 3 * DAY;
      let s = await scim();
      const byFilter = await s.get(`/Agents?filter=${encodeURIComponent('externalId eq "synced"')}`);
      expect(byFilter.body.Resources.map((r: { id: string }) => r.id)).toEqual([ids.synced]);
      expect(see).toHaveBeenCalledTimes(1);
      expect(await seenHash()).toEqual({ [ids.synced!]: String(t0 + 3 * DAY) });

      // inside the hour: a read and a PATCH write nothing, not even a call to Redis
      clockMs = t0 + 3 * DAY + 10 * 60_000;
      s = await scim();
      expect((await s.get(`/Agents/${ids.synced}`)).status).toBe(200);
      expect((await s.patch(`/Agents/${ids.synced}`, patchOps({ op: 'Replace', path: 'description', value: 'still here' }))).status).toBe(200);
      expect(see).toHaveBeenCalledTimes(1);
      expect(await seenHash()).toEqual({ [ids.synced!]: String(t0 + 3 * DAY) });

      // a bare listing asserts nothing about any agent
      clockMs = t0 + 3 * DAY + 2 * HOUR;
      s = await scim();
      expect((await s.get('/Agents')).body.totalResults).toBe(2);
      expect(see).toHaveBeenCalledTimes(1);
      // past the hour, the next read writes once more
      expect((await s.get(`/Agents/${ids.synced}`)).status).toBe(200);
      expect(see).toHaveBeenCalledTimes(2);
      expect(await seenHash()).toEqual({ [ids.synced!]: String(t0 + 3 * DAY + 2 * HOUR) });
    } finally {
      see.mockRestore();
    }
  });

  it(`past STS_SCIM_UNSEEN_DAYS (${7}), the agent the IdP stopped seeing is not_in_directory, the one it kept syncing is not`, async () => {
    expect(sts.config.usage.scimUnseenDays).toBe(7);
    clockMs = t0 + 7 * DAY - 1;
    expect((await driftByAgent())[ids.forgotten!]).toEqual([]);
    clockMs = t0 + 7 * DAY + 1;
    const found = await driftByAgent();
    expect(found[ids.forgotten!]).toEqual([{ kind: 'not_in_directory', detail: `provisioned by SCIM, last seen by the IdP ${new Date(t0).toISOString()}, more than 7 days ago` }]);
    expect(found[ids.synced!]).toEqual([]);
    const csv = await (await admin()).review('text/csv');
    expect(csv.text).toContain(`${ids.forgotten},alice@example.com,false,not_in_directory,,,"provisioned by SCIM, last seen by the IdP ${new Date(t0).toISOString()}, more than 7 days ago"\r\n`);
    expect(csv.text).toContain('hand-made,bob@example.com,false,not_in_directory,,,created through the admin API');
    // the IdP looks it up again: seen, and the finding is gone
    expect((await (await scim()).get(`/Agents?filter=${encodeURIComponent(`externalId eq "forgotten"`)}`)).body.totalResults).toBe(1);
    expect((await driftByAgent())[ids.forgotten!]).toEqual([]);
  });

  it('a sighting that cannot be written answers 503 before anything changes: the PATCH is not applied', async () => {
    const store = sts.deps.stores.scimSeen!;
    const see = jest.spyOn(store, 'see').mockRejectedValue(new StoreUnavailableError(new Error('redis down')));
    try {
      clockMs += 2 * HOUR;
      const s = await scim();
      const res = await s.patch(`/Agents/${ids.synced}`, patchOps({ op: 'Replace', path: 'description', value: 'must not land' }));
      expect(res.status).toBe(503);
      expect(see).toHaveBeenCalledTimes(1);
      see.mockRestore();
      expect((await s.get(`/Agents/${ids.synced}`)).body.description).toBe('still here');
    } finally {
      see.mockRestore();
    }
  });

  it('owner_missing: an owner agent:<id> resolves while the registry holds that agent; once the IdP deletes it, it does not', async () => {
    const a = await admin();
    expect((await a.create({ ...hand('worker', `agent:${ids.synced}`) })).status).toBe(201);
    expect((await a.create({ ...hand('orphan-from-start', 'agent:never-registered') })).status).toBe(201);
    let found = await driftByAgent();
    expect(found.worker!.filter((f) => f.kind === 'owner_missing')).toEqual([]);
    expect(found['orphan-from-start']!.filter((f) => f.kind === 'owner_missing')).toEqual([
      { kind: 'owner_missing', detail: 'the owner agent:never-registered names an agent the registry does not hold' },
    ]);
    // a person or team owner cannot be checked without the directory: never owner_missing
    expect(found['hand-made']!.filter((f) => f.kind === 'owner_missing')).toEqual([]);

    expect(Object.keys(await seenHash())).toContain(ids.synced);
    expect((await (await scim()).delete(`/Agents/${ids.synced}`)).status).toBe(204);
    found = await driftByAgent();
    expect(found.worker!.filter((f) => f.kind === 'owner_missing')).toEqual([
      { kind: 'owner_missing', detail: `the owner agent:${ids.synced} names an agent the registry does not hold` },
    ]);
    // the review dropped the deleted agent's sighting
    expect(Object.keys(await seenHash())).not.toContain(ids.synced);
  });

  it('with no SCIM agent left, hand-made agents are no longer flagged', async () => {
    expect((await (await scim()).delete(`/Agents/${ids.forgotten}`)).status).toBe(204);
    const found = await driftByAgent();
    expect(found['hand-made']).toEqual([]);
    expect(Object.values(found).flat().map((f) => f.kind)).toEqual(['owner_missing', 'owner_missing']);
  });
});
