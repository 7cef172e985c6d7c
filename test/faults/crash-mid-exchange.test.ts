import { hash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { StoreUnavailableError } from '../../src/errors.js';
import type { CreateOutcome, KillTag, RemovedSession, ReplaySpace, ReplayStore, Session, SessionFilter, SessionStore, UnannouncedTree } from '../../src/store/index.js';
import type { RedisKeys } from '../../src/store/keys.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisSessionStore } from '../../src/store/redis/session-store.js';
import { sleep } from '../helpers/wait.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { API, AT_TYPE, basic, EXCHANGE, startSts, type TestSts } from '../helpers/sts.js';
import { sidOf } from '../helpers/responses.js';

/**
 * A token is never returned without its session record already stored. The app is built around a
 * store wrapper whose `create` can fail the way a crash or an outage makes it fail: reject at once,
 * hang past the command timeout (a frozen Redis), or store the record and then lose the reply.
 * /token answers 503 temporarily_unavailable and hands out no token. Conversely, across a burst of
 * 200 issuances and exchanges whose store writes are slowed down, every 200 response's session
 * record already exists in Redis when the client reads the response.
 */

type Res = request.Response;
type Mode = 'pass' | 'slow' | 'reject' | 'hang' | 'store-then-lose-reply';

const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'session store unavailable' };

/** Delegates to the real Redis store; only `create` misbehaves, as `mode` says. */
class FaultyStore implements SessionStore, ReplayStore {
  mode: Mode = 'pass';
  creates = 0;
  constructor(
    private readonly real: RedisSessionStore,
    /** A store on a SIGSTOPped Redis: its commands time out. */
    private readonly frozen: RedisSessionStore,
  ) {}

  async create(session: Session, nowMs: number, startedMs: number): Promise<CreateOutcome> {
    this.creates++;
    switch (this.mode) {
      case 'pass':
        return this.real.create(session, nowMs, startedMs);
      case 'slow':
        // The write lands late: a server that answered before it finished would be caught.
        await sleep(Math.floor(Math.random() * 25));
        return this.real.create(session, nowMs, startedMs);
      case 'reject':
        throw new StoreUnavailableError(new Error('Connection is closed.'));
      case 'hang':
        return this.frozen.create(session, nowMs, startedMs);
      case 'store-then-lose-reply':
        await this.real.create(session, nowMs, startedMs);
        throw new StoreUnavailableError(new Error('Command timed out'));
    }
  }
  findByToken(sid: string, tokenHash: string, nowMs: number) {
    return this.real.findByToken(sid, tokenHash, nowMs);
  }
  findClaimsByToken(sid: string, tokenHash: string, nowMs: number, aud?: string) {
    return this.real.findClaimsByToken(sid, tokenHash, nowMs, aud);
  }
  setAgentDisabled(agentId: string, disabled: boolean) {
    return this.real.setAgentDisabled(agentId, disabled);
  }
  subtree(sid: string, nowMs: number) {
    return this.real.subtree(sid, nowMs);
  }
  list(filter: SessionFilter, nowMs: number, limit: number) {
    return this.real.list(filter, nowMs, limit);
  }
  revokeTree(sid: string, nowMs: number, tag?: KillTag) {
    return this.real.revokeTree(sid, nowMs, tag);
  }
  revokeAgent(agentId: string, nowMs: number, tag?: KillTag) {
    return this.real.revokeAgent(agentId, nowMs, tag);
  }
  announced(removed: RemovedSession[], tag: KillTag) {
    return this.real.announced(removed, tag);
  }
  unannounced(beforeMs: number, limit: number) {
    return this.real.unannounced(beforeMs, limit);
  }
  forgetAnnounced(trees: UnannouncedTree[]) {
    return this.real.forgetAnnounced(trees);
  }
  enableAgent(agentId: string, nowMs: number) {
    return this.real.enableAgent(agentId, nowMs);
  }
  wasKilled(sid: string, nowMs: number) {
    return this.real.wasKilled(sid, nowMs);
  }
  useOnce(space: ReplaySpace, id: string, expiresAtMs: number, nowMs: number) {
    return this.real.useOnce(space, id, expiresAtMs, nowMs);
  }
  countLive(nowMs: number) {
    return this.real.countLive(nowMs);
  }
  ping() {
    return this.real.ping();
  }
  async close() {
    await this.real.close();
    await this.frozen.close();
  }
}

interface Harness {
  sts: TestSts;
  store: FaultyStore;
  raw: NonNullable<TestSts['redis']>;
  keys: RedisKeys;
  prefix: string;
  frozenRedis: RedisProcess;
  close(): Promise<void>;
}

/** startSts with the FaultyStore in place of the session store (its frozen side on a paused Redis). */
async function build(): Promise<Harness> {
  const frozenRedis = await startRedis();
  const frozenClient = connectRedis({ url: frozenRedis.url, commandTimeoutMs: 200 });
  frozenClient.on('error', () => {});
  await frozenClient.connect();
  frozenRedis.pause();

  let store: FaultyStore | undefined;
  const sts = await startSts({
    wrapStore: (real, keys) => (store = new FaultyStore(real, new RedisSessionStore(frozenClient, keys))),
  });
  return {
    sts, store: store!, raw: sts.redis!, keys: sts.keys!, prefix: sts.prefix, frozenRedis,
    async close() {
      await sts.close(); // closes the FaultyStore: the real store and the frozen one
      await frozenRedis.stop();
    },
  };
}

describe('a token is never returned without its session record already stored', () => {
  let h: Harness;
  let server: Server;
  let root: string;

  beforeAll(async () => {
    h = await build();
    server = createServer(h.sts.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await h.close();
  });
  beforeEach(() => {
    h.store.mode = 'pass';
  });

  const state = async () => (await h.raw.keys(`${h.prefix}*`)).sort();
  const sessions = async () => (await h.raw.keys(`${h.prefix}*`)).filter((k) => k.includes('}:s:'));
  const clientCredentials = () =>
    request(server).post('/token').set('Authorization', basic('billing-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read invoices:write' }).then((r) => r);
  const exchange = (agent: string, subject: string) =>
    request(server).post('/token').set('Authorization', basic(agent)).type('form')
      .send({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read' }).then((r) => r);
  const introspect = (token: string) =>
    request(server).post('/introspect').set('Authorization', basic(API)).type('form').send({ token }).then((r) => r);

  // The parent every exchange below starts from, issued while the store is healthy.
  beforeAll(async () => {
    const res = await clientCredentials();
    expect(res.status).toBe(200);
    root = res.body.access_token as string;
  });

  it('control: with a healthy store /token issues, and the session is stored', async () => {
    const res = await clientCredentials();
    expect(res.status).toBe(200);
    const token = res.body.access_token as string;
    expect(await h.raw.hget(h.keys.session(sidOf(token)), 'th')).toBe(hash('sha256', token, 'base64url'));
    expect((await introspect(token)).body.active).toBe(true);
    expect(await h.raw.hget(h.keys.session(sidOf(root)), 'th')).toBe(hash('sha256', root, 'base64url'));
    expect((await introspect(root)).body.active).toBe(true);
  });

  describe.each<[Mode, string]>([
    ['reject', 'create rejects (connection lost)'],
    ['hang', 'create hangs on a frozen Redis past the command timeout'],
  ])('%s: %s', (mode) => {
    it('client_credentials → 503 temporarily_unavailable, no token, nothing stored, no token.issued', async () => {
      const before = await state();
      const n = h.sts.events.events.length;
      const creates = h.store.creates;
      h.store.mode = mode;
      const res = await clientCredentials();
      expect(h.store.creates).toBe(creates + 1); // the failure came from the store write itself
      expect({ status: res.status, body: res.body as unknown, retryAfter: res.headers['retry-after'] }).toEqual({ status: 503, body: UNAVAILABLE, retryAfter: '1' });
      expect(res.text).not.toContain('access_token');
      expect(await state()).toEqual(before);
      expect(h.sts.events.events.slice(n).filter((e) => e.type === 'token.issued')).toEqual([]);
    });

    it('token exchange → 503, no token, nothing stored; the parent is untouched and still active', async () => {
      // A parent of its own, so "no child" holds whatever the other tests exchanged from theirs.
      const parent = (await clientCredentials()).body.access_token as string;
      const before = await state();
      h.store.mode = mode;
      const res = await exchange('sub-agent', parent);
      expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 503, body: UNAVAILABLE });
      expect(res.text).not.toContain('access_token');
      expect(await state()).toEqual(before);
      expect(await h.raw.smembers(h.keys.children(sidOf(parent)))).toEqual([]);
      h.store.mode = 'pass';
      expect((await introspect(parent)).body.active).toBe(true);
    });
  });

  it('store-then-lose-reply (the record landed, the reply was lost): 503 and no token — the orphan record has no holder', async () => {
    const before = new Set(await sessions());
    h.store.mode = 'store-then-lose-reply';
    const res = await exchange('sub-agent', root);
    expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 503, body: UNAVAILABLE });
    expect(res.text).not.toMatch(/eyJ/);
    // The record exists, but no response ever carried a token that matches it.
    const orphans = (await sessions()).filter((k) => !before.has(k));
    expect(orphans).toHaveLength(1);
  });

  it('burst of 200 issuances and exchanges with slowed writes: every 200 response’s session is already in Redis', async () => {
    h.store.mode = 'slow';
    const child = (await exchange('sub-agent', root)).body.access_token as string;
    expect(child).toEqual(expect.any(String));
    const TOTAL = 200;
    const CONCURRENCY = 20;
    const checks: { sid: string; th: string | null; expected: string }[] = [];
    let next = 0;
    const lane = async () => {
      while (next < TOTAL) {
        const i = next++;
        const res: Res = i % 3 === 0 ? await clientCredentials() : i % 3 === 1 ? await exchange('sub-agent', root) : await exchange('leaf-agent', child);
        expect(res.status).toBe(200);
        const token = res.body.access_token as string;
        // Checked the moment the response is read, before anything else runs in this lane.
        const th = await h.raw.hget(h.keys.session(sidOf(token)), 'th');
        checks.push({ sid: sidOf(token), th, expected: hash('sha256', token, 'base64url') });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    expect(checks).toHaveLength(TOTAL);
    expect(checks.filter((c) => c.th !== c.expected)).toEqual([]);
    expect(new Set(checks.map((c) => c.sid)).size).toBe(TOTAL);
  });
});
