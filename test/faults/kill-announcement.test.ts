import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { requireToken, revocationFeed, type RevocationFeed } from 'agent-sts-gate/express';
import { Faults, type FaultRule } from '../helpers/faults.js';
import { sidOf } from '../helpers/responses.js';
import { hashSecret } from '../../src/clients/secret.js';
import { adminToken, API, basic, introspect, SECRETS, testRegistry } from '../helpers/sts.js';
import { listeningSts } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 20, finding 3: a kill's announcement is as durable as the kill. Whatever fails while a
 * session is killed (its SSF stream, its outcome record, the outbox's cleanup, the first attempt
 * to finish it), a session dead at introspection is, once the failure is over, refused by a
 * resource server's gate in local mode whose feed is fresh: a retry announces it at once, any
 * poll or sweep after the grace announces it, and while it cannot be announced the poll fails, so
 * the feed goes stale and the gate asks agent-sts.
 */
const GRACE_PASSED_MS = 2_100;
/** One agent per test, so no agent-wide kill's marker reaches into the next test. */
const AGENTS = Array.from({ length: 20 }, (_, i) => `announce-agent-${i}`);
const AGENT_SECRET = 'announce-agent-secret-0123456789abcdefgh';

type Kind = 'session' | 'agent';
interface Case { name: string; kill: [string, FaultRule?]; drain?: [string, FaultRule?] }

const CASES: Case[] = [
  { name: 'the SSF stream', kill: ['ssf.append'] },
  { name: 'the outcome record', kill: ['audit.append', { when: Faults.recordOf('session.revoked') }] },
  { name: 'the SSF stream, then the first late announcement\'s record', kill: ['ssf.append'], drain: ['audit.append', { when: Faults.recordOf('revocation.announced') }] },
  { name: 'the SSF stream, then the outbox read of the first sweep', kill: ['ssf.append'], drain: ['sessions.unannounced'] },
  { name: 'the outbox cleanup after a kill that did land', kill: ['sessions.announced'] },
  { name: 'the outcome record, then the late cleanup', kill: ['audit.append', { when: Faults.recordOf('session.revoked') }], drain: ['sessions.forgetAnnounced'] },
];

describe('a kill whose announcement failed still reaches a local-mode gate', () => {
  const faults = new Faults();
  // the service runs on real time plus an offset a test moves past the grace (the gate checks tokens on real time)
  let offsetMs = 0;
  const nowMs = () => Date.now() + offsetMs;
  let agents = 0;
  let agent = '';
  let env: Awaited<ReturnType<typeof listeningSts>>;
  const feeds: RevocationFeed[] = [];

  beforeAll(async () => {
    env = await listeningSts({
      store: 'redis', faults, clock: { nowMs }, ssfLongPollMs: 100,
      registry: () => testRegistry({ agents: AGENTS.map((id) => ({ id, secretHash: hashSecret(AGENT_SECRET), audiences: { [API]: ['invoices:read'] } })) }),
    });
    // only polls, retries and the test's own sweeps finish kills here, so each path is seen alone
    env.sts.deps.announcer.close();
  });
  afterEach(() => {
    offsetMs = 0;
    faults.heal();
    for (const f of feeds.splice(0)) f.close();
  });
  afterAll(async () => {
    await env.close();
  });

  const gate = (staleAfterMs = 60_000) => {
    const feed = revocationFeed({ issuer: env.issuer, audience: API, credentials: { clientId: API, clientSecret: SECRETS[API]! }, staleAfterMs });
    feeds.push(feed);
    const app = express();
    app.get('/invoices', requireToken({ issuer: env.issuer, audience: API, mode: 'local', clientSecret: SECRETS[API]!, revocations: feed, scopes: ['invoices:read'] }), (_req, res) => res.json({ ok: true }));
    return { feed, get: (token: string) => request(app).get('/invoices').set('Authorization', `Bearer ${token}`) };
  };
  const sendKill = async (kind: Kind, token: string) => {
    const admin = await adminToken(env.sts);
    const path = kind === 'session' ? `/admin/sessions/${sidOf(token)}` : `/admin/agents/${agent}/revoke-sessions`;
    const call = kind === 'session' ? request(env.sts.app).delete(path) : request(env.sts.app).post(path);
    return call.set('Authorization', `Bearer ${admin}`);
  };
  const fresh = async () => {
    agent = AGENTS[agents++]!;
    const res = await request(env.sts.app).post('/token').set('Authorization', basic(agent, AGENT_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(res.status).toBe(200);
    return res.body.access_token as string;
  };

  it('a retry announces at once what the failed kill could not', async () => {
    const { feed, get } = gate();
    await feed.ready();
    const token = await fresh();
    expect((await get(token)).status).toBe(200);
    faults.fail('ssf.append');
    const failed = await sendKill('session', token);
    expect({ status: failed.status, error: failed.body.error }).toEqual({ status: 503, error: 'temporarily_unavailable' });
    expect(failed.body.error_description).toMatch(/^killed 1 session\(s\);/);
    expect((await introspect(env.sts, token)).body.active).toBe(false);
    faults.heal();
    const retry = await sendKill('session', token);
    expect(retry.status).toBe(200);
    await until(() => feed.isRevoked(sidOf(token)), 'the retried kill is heard');
    expect((await get(token)).status).toBe(401);
  });

  it('while a kill cannot be announced, polls fail: the feed goes stale and the gate asks agent-sts', async () => {
    const token = await fresh();
    const { feed, get } = gate(500);
    await feed.ready();
    faults.fail('ssf.append');
    expect((await sendKill('session', token)).status).toBe(503);
    offsetMs += GRACE_PASSED_MS;
    await until(() => !feed.fresh(), 'the feed goes stale');
    expect((await get(token)).status).toBe(401);
    expect(feed.isRevoked(sidOf(token))).toBe(false);
  });

  describe.each(['session', 'agent'] as const)('%s kills', (kind) => {
    it.each(CASES.map((c) => [c.name, c] as const))('failing at %s: once healed, refused by the gate with a fresh feed', async (_n, c) => {
      const { feed, get } = gate();
      await feed.ready();
      const token = await fresh();
      expect((await get(token)).status).toBe(200);
      faults.fail(c.kill[0], c.kill[1]);
      await sendKill(kind, token);
      faults.heal();
      expect((await introspect(env.sts, token)).body.active).toBe(false);
      offsetMs += GRACE_PASSED_MS;
      if (c.drain) {
        faults.fail(c.drain[0], { times: 1, ...c.drain[1] });
        await env.sts.deps.announcer.drain({ requestId: 'test-sweep', startedMs: nowMs() }).catch(() => {});
        faults.heal();
      }
      // the feed's next poll announces whatever is still overdue before it answers
      await until(() => feed.isRevoked(sidOf(token)), 'the kill is heard');
      expect(feed.fresh()).toBe(true);
      expect((await get(token)).status).toBe(401);
      // and the outbox empties: the late announcement is recorded in the trail
      await until(async () => (await env.sts.deps.stores.sessions.unannounced(nowMs() + 1, 100)).length === 0, 'the outbox is empty');
    });
  });
});
