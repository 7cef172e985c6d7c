import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { AGENT_KILL_CLOCK_SKEW_MS } from '../../src/store/index.js';
import type { RegistryKind, RegistryStore } from '../../src/store/registry.js';
import { ADMIN_AUD, API, basic, clientCredentials, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { sidOf } from '../helpers/responses.js';
import { race, racePlan, raceRequests } from '../helpers/race.js';

/**
 * A disable racing issuance and exchanges, on a single Redis and on a 3-master cluster, with two
 * instances: the requests go to B, the disable to A. B's registry copy never hears of any change
 * (its store's announcements and version are cut off): what it answers rests on the store alone. While 200 requests are in flight (sub-agent's client_credentials, sub-agent exchanging
 * billing-agent's root, leaf-agent exchanging sub-agent's root, billing-agent alongside), A answers
 * POST /admin/agents/sub-agent/disable. Invariants, once it has returned: every 200 of the race
 * introspects inactive on B and was counted by the disable; the store lists no session of
 * sub-agent; every request sent afterwards to B is refused (401 invalid_client for sub-agent's own
 * credentials) whether or not B has heard of the change; billing-agent is untouched.
 *
 * The service clock stands still during a round (as in agent-kill-race.test.ts) until the disable
 * has returned; then it moves past the kill marker's allowance, so only the status key can refuse
 * what arrives afterwards (the lanes still sending, and the late requests).
 */
const PER_KIND = 50;
const DISABLE_AFTER = 60;
const CONCURRENCY = 40;
const AFTERWARDS = 40;
const ROUNDS = [1, 2, 3];
const MANAGER = 'registry-admin';
const MANAGER_SECRET = 'registry-admin-secret-0123456789abcdef';
const REFUSALS = [
  { status: 401, error: 'invalid_client' },
  { status: 400, error: 'invalid_grant' },
];

/** A registry store whose instance never hears a change: no announcements, a version that never moves. */
const deaf = (real: RegistryStore): RegistryStore => ({
  get: (kind, id) => real.get(kind, id),
  all: async (kind: RegistryKind) => ({ ...(await real.all(kind)), version: -1 }),
  add: (kind, id, doc, opts) => real.add(kind, id, doc, opts),
  put: (kind, id, doc) => real.put(kind, id, doc),
  replace: (kind, id, expected, doc, opts) => real.replace(kind, id, expected, doc, opts),
  remove: (kind, id) => real.remove(kind, id),
  version: async () => -1,
  pending: () => real.pending(),
  subscribe: async () => async () => {},
  touch: (kind, id, credential, atMs) => real.touch(kind, id, credential, atMs),
  lastUsed: (kind, id) => real.lastUsed(kind, id),
});

describe.each(['single', 'cluster'] as const)('a disable racing 200 issuances and exchanges on another instance (%s Redis)', (topology) => {
  let cluster: RedisCluster | undefined;
  let a: TestSts;
  let b: TestSts;
  let server: Server;
  let admin: string;
  let frozenMs = 0;
  let issuedTotal = 0;
  let refusedTotal = 0;

  beforeAll(async () => {
    if (topology === 'cluster') cluster = await startRedisCluster();
    frozenMs = Date.now();
    const registry = testRegistry({ agents: [{ id: MANAGER, owner: 'platform', secretHash: hashSecret(MANAGER_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }] });
    const common = { live: true, registry, clock: { nowMs: () => frozenMs }, ...(cluster ? { redisUrl: cluster.url } : {}) };
    a = await startSts(common);
    b = await startSts({ ...common, prefix: a.prefix, wrapRegistryStore: deaf });
    server = createServer(b.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const res = await request(a.app).post('/token').set('Authorization', basic(MANAGER, MANAGER_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'agents:manage' });
    admin = res.body.access_token as string;
  }, 30_000);
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await a?.close();
    await b?.close();
    await cluster?.stop();
  });

  const cc = (agent: string) => raceRequests(server).cc(agent);
  const introspectAll = (tokens: string[]) => raceRequests(server).introspectAll(tokens);
  const adminCall = (path: string) => request(a.app).post(`/admin/agents/sub-agent/${path}`).set('Authorization', `Bearer ${admin}`).then((r) => r);

  it.each(ROUNDS)('round %i', async () => {
    frozenMs = Math.max(Date.now(), frozenMs + 2 * AGENT_KILL_CLOCK_SKEW_MS + 1);
    const B = (await clientCredentials(b, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const SR = (await clientCredentials(b, 'sub-agent', API, 'invoices:read invoices:write')).access_token;
    const plan = racePlan(PER_KIND);
    const { triggered, done } = race(plan, (kind) => raceRequests(server).send(kind, B, SR), {
      concurrency: CONCURRENCY, fireAfter: DISABLE_AFTER, trigger: () => adminCall('disable'),
    });
    const disable = await triggered;
    expect(disable.status).toBe(200);
    frozenMs += 2 * AGENT_KILL_CLOCK_SKEW_MS + 1;
    expect((await b.deps.registry.agent('sub-agent'))?.disabled).toBe(false); // B's copy is stale
    // Sent after the disable returned, to B, which may not have heard of it yet.
    const late = await Promise.all(Array.from({ length: AFTERWARDS }, () => cc('sub-agent')));
    const results = await done;
    expect(results).toHaveLength(plan.length);

    for (const r of late) expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } });
    const targets = results.filter((r) => r.kind !== 'bystander');
    for (const { res } of targets.filter((r) => r.res.status !== 200)) expect(REFUSALS).toContainEqual({ status: res.status, error: res.body.error });
    const issued = targets.filter((r) => r.res.status === 200).map((r) => r.res.body.access_token as string);
    issuedTotal += issued.length;
    refusedTotal += targets.length - issued.length;
    expect(disable.body).toEqual({ disabled: true, revoked: 1 + issued.length });

    for (const r of await introspectAll([SR, ...issued])) expect(r.body).toEqual({ active: false });
    expect(await b.deps.sessions.list({ agent: 'sub-agent' }, 10_000)).toEqual([]);
    const raced = new Set(issued.map(sidOf));
    expect((await b.deps.sessions.list({ agent: 'leaf-agent' }, 10_000)).filter((s) => raced.has(s.sid))).toEqual([]);

    const bystanders = results.filter((r) => r.kind === 'bystander');
    expect(bystanders.map((r) => r.res.status)).toEqual(bystanders.map(() => 200));
    for (const r of await introspectAll([B, ...bystanders.map((x) => x.res.body.access_token as string)])) expect(r.body.active).toBe(true);

    expect((await adminCall('enable')).body).toEqual({ disabled: false });
  });

  it('over the rounds the race was real: sub-agent sessions were stored before the disable and refused after it', () => {
    expect(issuedTotal).toBeGreaterThan(0);
    expect(refusedTotal).toBeGreaterThan(0);
  });
});
