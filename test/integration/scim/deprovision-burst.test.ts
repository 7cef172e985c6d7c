import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import type { RegistryActor } from '../../../src/registry/service.js';
import { API, basic, startSts, type TestSts, type TestStsOptions } from '../../helpers/sts.js';
import { EXT, PROVISIONER, SCIM_ERROR, SCIM_JSON, patchOps, provisionerToken, scimRegistry } from '../../helpers/scim.js';

/**
 * An IdP deprovisioning a thousand agents at once, across two instances on one Redis: half by
 * DELETE, half by Entra's PATCH active "False", 50 in flight. Every request is answered 2xx, every
 * agent's session is dead on both instances, every change is complete (no pending mark) and
 * recorded once. Under a per-address limit the burst is bounded exactly across both instances,
 * a refused request changes nothing (429 as a SCIM error with Retry-After, which IdPs honour),
 * and another caller is not starved.
 */
jest.setTimeout(240_000);

const AGENTS = Number(process.env.SCIM_BURST_AGENTS ?? 1_000);
const IN_FLIGHT = 50;
const LIMITED_BURST = 60;
const PER_ADDRESS = 40;

/** Runs `work` over `items`, `width` at a time, in order of start. */
async function pool<T, R>(items: T[], width: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!, i);
    }
  }));
  return out;
}

const listen = (sts: TestSts) => new Promise<Server>((resolve) => {
  const server = createServer(sts.app).listen(0, '127.0.0.1', () => resolve(server));
});
const closeServer = (s: Server | undefined) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));

interface Provisioned { id: string; token: string }

/** `count` SCIM-managed agents, each with a live token (created through the registry service as SCIM does, which hands back the first secret). */
async function provision(sts: TestSts, server: Server, prefix: string, count: number): Promise<Provisioned[]> {
  const actor: RegistryActor = { agent: PROVISIONER, scopes: [], context: { requestId: `seed-${prefix}`, startedMs: Date.now() } };
  return pool(Array.from({ length: count }, (_, i) => i), 10, async (i) => {
    const { record, secret } = await sts.deps.liveRegistry!.service.createAgent(actor, {
      id: `${prefix}-${i}`, externalId: `${prefix}-ext-${i}`, owner: 'burst-owner', audiences: { [API]: ['invoices:read'] },
    }, 'scim');
    // each agent from an address of its own: a per-address limit is what the burst, not this set-up, meets
    const res = await request(server).post('/token').set('Authorization', basic(record.id, secret!)).set('X-Forwarded-For', addressOf(i)).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(res.status).toBe(200);
    return { id: record.id, token: res.body.access_token as string };
  });
}

const deprovision = (server: Server, token: string, id: string, how: 'delete' | 'deactivate', from?: string) => {
  const r = how === 'delete' ? request(server).delete(`/scim/v2/Agents/${id}`)
    : request(server).patch(`/scim/v2/Agents/${id}`).set('Content-Type', SCIM_JSON).send(JSON.stringify(patchOps({ op: 'Replace', path: 'active', value: 'False' })));
  const authed = r.set('Authorization', `Bearer ${token}`);
  return from ? authed.set('X-Forwarded-For', from) : authed;
};
const introspectAt = (server: Server, token: string, i = 0) =>
  request(server).post('/introspect').set('Authorization', basic(API)).set('X-Forwarded-For', addressOf(i)).type('form').send({ token });
/** A documentation address (RFC 5737) per agent, for the requests that are not the IdP's. */
const addressOf = (i: number) => `198.51.100.${i % 250}`;

/** Two instances on one Redis, each listening, and the provisioning client's token; started before the block's tests, closed after. */
function twoInstances(opts: Omit<TestStsOptions, 'live' | 'registry' | 'prefix'>) {
  const got = { a: undefined as unknown as TestSts, b: undefined as unknown as TestSts, servers: [] as Server[], provisioner: '' };
  // read in the tests, after beforeAll has filled it
  beforeAll(async () => {
    got.a = await startSts({ live: true, registry: scimRegistry(), ...opts });
    got.b = await startSts({ live: true, registry: scimRegistry(), ...opts, prefix: got.a.prefix });
    got.servers.push(await listen(got.a), await listen(got.b));
    got.provisioner = await provisionerToken(got.a);
  });
  afterAll(async () => {
    for (const s of got.servers) await closeServer(s);
    await got.a?.close();
    await got.b?.close();
  });
  return got;
}

describe('a 1,000-agent SCIM deprovision burst across two instances', () => {
  const two = twoInstances({});

  it('every request answered, every session dead on both instances, every change complete and recorded by its request once', async () => {
    const { a, b, servers, provisioner } = two;
    const agents = await provision(a, servers[0]!, 'burst', AGENTS);
    const answers = await pool(agents, IN_FLIGHT, ({ id }, i) => deprovision(servers[i % 2]!, provisioner, id, i % 2 === 0 ? 'delete' : 'deactivate'));
    expect(answers.map((r) => r.status).filter((s) => s !== 204 && s !== 200)).toEqual([]);

    const seen = await pool(agents, IN_FLIGHT, async ({ token }, i) => (await introspectAt(servers[i % 2]!, token)).body.active as boolean);
    expect(seen.filter(Boolean)).toEqual([]);
    const seenOther = await pool(agents, IN_FLIGHT, async ({ token }, i) => (await introspectAt(servers[(i + 1) % 2]!, token)).body.active as boolean);
    expect(seenOther.filter(Boolean)).toEqual([]);

    expect(await a.deps.liveRegistry!.store.pending()).toEqual([]);
    const records = [...a.events.events, ...b.events.events];
    for (const [i, { id }] of agents.entries()) {
      const stored = JSON.parse((await a.deps.liveRegistry!.store.get('agent', id))!) as Record<string, unknown>;
      expect(stored).toMatchObject(i % 2 === 0 ? { deleted: expect.any(String), deletedBy: PROVISIONER } : { disabled: true, updatedBy: PROVISIONER });
    }
    // Each change recorded by its request once. A request slower than PENDING_GRACE_MS (a loaded
    // machine, 50 in flight) can also be completed by the other instance's sweep, which records the
    // outcome again naming the request it completes: that second record is the only other kind.
    const outcomes = new Map<string, { requestId: string; completes?: string }[]>();
    for (const e of records) {
      if (e.type !== 'agent.deleted' && e.type !== 'agent.disabled') continue;
      const agent = String((e as { agent: string }).agent);
      outcomes.set(agent, [...(outcomes.get(agent) ?? []), e as unknown as { requestId: string; completes?: string }]);
    }
    const ownRecords = (id: string) => (outcomes.get(id) ?? []).filter((o) => !o.requestId.startsWith('sweep-'));
    const sweeps = (id: string) => (outcomes.get(id) ?? []).filter((o) => o.requestId.startsWith('sweep-'));
    expect(agents.filter(({ id }) => ownRecords(id).length !== 1).map(({ id }) => id)).toEqual([]);
    expect(agents.filter(({ id }) => sweeps(id).some((o) => o.completes !== ownRecords(id)[0]!.requestId)).map(({ id }) => id)).toEqual([]);
    const listed = await request(servers[1]!).get(`/scim/v2/Agents?filter=${encodeURIComponent(`externalId sw "burst-" and active eq true`)}`).set('Authorization', `Bearer ${provisioner}`);
    expect(listed.body.totalResults).toBe(0);
  });
});

describe('the burst under a per-address limit, across two instances', () => {
  const two = twoInstances({ rateLimit: { perIp: PER_ADDRESS }, trustProxy: 'loopback' });

  it('exactly the limit passes across both instances; the refused change nothing (429 SCIM error, Retry-After); another caller still passes', async () => {
    const { a, servers, provisioner } = two;
    const IDP = '203.0.113.7';
    const agents = await provision(a, servers[0]!, 'limited', LIMITED_BURST);
    const answers = await pool(agents, 10, ({ id }, i) => deprovision(servers[i % 2]!, provisioner, id, 'deactivate', IDP));
    const passed = agents.filter((_, i) => answers[i]!.status === 200);
    const refused = agents.filter((_, i) => answers[i]!.status === 429);
    expect({ passed: passed.length, refused: refused.length }).toEqual({ passed: PER_ADDRESS, refused: LIMITED_BURST - PER_ADDRESS });
    const limited = answers.find((r) => r.status === 429)!;
    expect(limited.headers['content-type']).toMatch(/^application\/scim\+json/);
    expect(limited.body).toMatchObject({ schemas: [SCIM_ERROR], status: '429' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    for (const [i, { id, token }] of refused.entries()) {
      expect((await introspectAt(servers[0]!, token, i)).body.active).toBe(true);
      expect(JSON.parse((await a.deps.liveRegistry!.store.get('agent', id))!)).toMatchObject({ disabled: false });
    }
    for (const [i, { token }] of passed.entries()) expect((await introspectAt(servers[1]!, token, i)).body.active).toBe(false);

    // a second provisioning source (another address) is not starved by the first one's burst
    const other = await request(servers[1]!).get(`/scim/v2/Agents?filter=${encodeURIComponent(`${EXT}:requireDpop eq false`)}&count=1`)
      .set('Authorization', `Bearer ${provisioner}`).set('X-Forwarded-For', '203.0.113.8');
    expect(other.status).toBe(200);
  });
});
