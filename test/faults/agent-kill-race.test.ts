import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { AGENT_KILL_CLOCK_SKEW_MS } from '../../src/store/index.js';
import { adminToken, API, clientCredentials, startSts, type TestSts } from '../helpers/sts.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { sidOf } from '../helpers/responses.js';
import { race, racePlan, raceRequests } from '../helpers/race.js';

/**
 * An agent-wide kill racing issuance and exchanges, on a single Redis and on a 3-master cluster.
 * While 200 requests are in flight, POST /admin/agents/sub-agent/revoke-sessions is sent:
 * client_credentials for sub-agent (roots it holds), sub-agent exchanging billing-agent's root
 * (children it holds, under a parent the kill does not touch), leaf-agent exchanging sub-agent's
 * root (sub-agent holds the ancestor), and billing-agent's own issuance alongside.
 * Invariant: no session of sub-agent created by a request that arrived before the kill returned
 * survives it: every such 200 introspects inactive, the store lists none, and the kill counted
 * each of them; billing-agent's sessions are untouched.
 *
 * The service's clock stands still during a round, so every request of the race arrived, on that
 * clock, no later than the kill: what counts as "before the kill" then does not depend on how long
 * anything takes on a loaded machine (the clock-skew allowance itself is covered in
 * contract/session-store.contract.ts). Between rounds the clock moves past the allowance.
 */

const PER_KIND = 50;
/** The kill is sent once this many requests have answered. */
const KILL_AFTER = 60;
const CONCURRENCY = 40;
const ROUNDS = [1, 2, 3];
const RETRY = "the agent's sessions were revoked while this request was in flight; retry";

describe.each(['single', 'cluster'] as const)('an agent-wide kill racing 200 issuances and exchanges (%s Redis)', (topology) => {
  let cluster: RedisCluster | undefined;
  let sts: TestSts;
  let server: Server;
  let admin: string;
  let frozenMs = 0;
  let issuedTotal = 0;
  let refusedTotal = 0;

  beforeAll(async () => {
    if (topology === 'cluster') cluster = await startRedisCluster();
    frozenMs = Date.now();
    sts = await startSts({ clock: { nowMs: () => frozenMs }, ...(cluster ? { redisUrl: cluster.url } : {}) });
    server = createServer(sts.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    admin = await adminToken(sts);
  }, 30_000);
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await sts?.close();
    await cluster?.stop();
  });

  const cc = (agent: string) => raceRequests(server).cc(agent);
  const introspectAll = (tokens: string[]) => raceRequests(server).introspectAll(tokens);

  it.each(ROUNDS)('round %i', async () => {
    // a fresh instant, past the previous round's marker and its allowance
    frozenMs = Math.max(Date.now(), frozenMs + 2 * AGENT_KILL_CLOCK_SKEW_MS + 1);
    const B = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const SR = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read invoices:write')).access_token;
    const plan = racePlan(PER_KIND);
    const { triggered, done } = race(plan, (kind) => raceRequests(server).send(kind, B, SR), {
      concurrency: CONCURRENCY, fireAfter: KILL_AFTER,
      trigger: () => request(server).post('/admin/agents/sub-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`).then((r) => r),
    });
    const kill = await triggered;
    expect(kill.status).toBe(200);
    const results = await done;
    expect(results).toHaveLength(plan.length);

    const targets = results.filter((r) => r.kind !== 'bystander');
    for (const { kind, res } of targets.filter((r) => r.res.status !== 200)) {
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
      if (kind === 'root') expect(res.body.error_description).toBe(RETRY);
    }
    const issued = targets.filter((r) => r.res.status === 200).map((r) => r.res.body.access_token as string);
    issuedTotal += issued.length;
    refusedTotal += targets.length - issued.length;
    // The kill counted SR and every session of the race that was stored: none was stored after it.
    expect(kill.body).toEqual({ revoked: 1 + issued.length });

    for (const r of await introspectAll([SR, ...issued])) expect(r.body).toEqual({ active: false });
    const sessions = sts.deps.sessions;
    expect(await sessions.list({ agent: 'sub-agent' }, 10_000)).toEqual([]);
    const raced = new Set(issued.map(sidOf));
    expect((await sessions.list({ agent: 'leaf-agent' }, 10_000)).filter((s) => raced.has(s.sid))).toEqual([]);
    expect(await sessions.subtree(sidOf(SR))).toEqual([]);

    // billing-agent was never the target: all its issuance succeeded and stays live.
    const bystanders = results.filter((r) => r.kind === 'bystander');
    expect(bystanders.map((r) => r.res.status)).toEqual(bystanders.map(() => 200));
    for (const r of await introspectAll([B, ...bystanders.map((b) => b.res.body.access_token as string)])) expect(r.body.active).toBe(true);
    expect((await sessions.subtree(sidOf(B))).map((s) => s.sid)).toEqual([sidOf(B)]);
  });

  it('over the rounds the race was real: sub-agent sessions were stored before the kill and refused after it', () => {
    expect(issuedTotal).toBeGreaterThan(0);
    expect(refusedTotal).toBeGreaterThan(0);
  });

  it('once the clock is past the allowance, sub-agent is issued tokens again', async () => {
    frozenMs += AGENT_KILL_CLOCK_SKEW_MS + 1;
    const res = await cc('sub-agent');
    expect(res.status).toBe(200);
    const [r] = await introspectAll([res.body.access_token as string]);
    expect(r!.body).toMatchObject({ active: true, client_id: 'sub-agent' });
  });
});
