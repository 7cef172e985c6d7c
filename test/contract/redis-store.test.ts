import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { AGENT_KILL_CLOCK_SKEW_MS, AGENT_KILL_MARKER_TTL_MS, agentsOf, type ReplayStore, type Session, type SessionStore } from '../../src/store/index.js';
import { AGENT_KILL_MARKER_SUFFIX, KILLED_SET_SUFFIX, OUTBOX_SUFFIX, redisKeys, TREE_KEY, type RedisKeys } from '../../src/store/keys.js';
import { assertRedisVersion, connectRedis } from '../../src/store/redis/connect.js';
import { INDEX_PRUNE_EVERY, RedisSessionStore } from '../../src/store/redis/session-store.js';
import { encodeSession } from '../../src/store/redis/codec.js';
import * as lua from '../../src/store/redis/scripts.js';
import { exerciseEveryWrite, makeChild, makeDelegated, makeRoot, randomId, sessionStoreContract } from './session-store.contract.js';

function redisUrl(): string {
  const url = process.env.STS_TEST_REDIS_URL;
  if (!url) throw new Error('STS_TEST_REDIS_URL is not set: run the tests through jest (globalSetup starts redis-server)');
  return url;
}

let raw: Redis;
beforeAll(async () => {
  raw = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  raw.on('error', () => {});
  await raw.connect();
});
afterAll(() => {
  raw.disconnect();
});

async function keysUnder(prefix: string): Promise<string[]> {
  return (await raw.keys(`${prefix}*`)).sort();
}

const isTombstone = (k: string) => k.includes(`}:${TREE_KEY.revoked}`);
const isKillMarker = (k: string) => k.endsWith(`}${AGENT_KILL_MARKER_SUFFIX}`) || k.endsWith(`}:${KILLED_SET_SUFFIX}`);

/**
 * Keys under the prefix other than what kills leave behind: a tombstone per killed subtree root,
 * until that session would have expired, so a create still in flight for it fails; a marker per
 * agent killed agent-wide, so a create for a request that arrived before the kill fails; a killed
 * set per tree, so a killed token presented again is recognised. Each must carry a TTL.
 */
async function keysBesidesTombstones(prefix: string): Promise<string[]> {
  const all = await keysUnder(prefix);
  const killMarks = all.filter((k) => isTombstone(k) || isKillMarker(k));
  for (const k of killMarks) expect(await raw.pttl(k)).toBeGreaterThan(0);
  return all.filter((k) => !killMarks.includes(k));
}

/** A RedisSessionStore on its own connection and its own random key prefix. */
async function openStore(prefix: string): Promise<SessionStore & ReplayStore> {
  const client = connectRedis({ url: redisUrl(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  return new RedisSessionStore(client, redisKeys(prefix));
}

async function dropPrefix(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length) await raw.del(...keys);
}

sessionStoreContract('redis', async () => {
  const prefix = `test:contract:${randomBytes(6).toString('hex')}:`;
  const store = await openStore(prefix);
  return {
    store,
    wallClockReplayExpiry: true,
    // Every key with its full content and expiry: a refusal must change none of them.
    snapshot: async () =>
      Promise.all(
        (await keysUnder(prefix)).map(async (k) => `${k} ${(await raw.dumpBuffer(k))?.toString('hex')} ${await raw.pexpiretime(k)}`),
      ),
    close: async () => {
      await store.close();
      await dropPrefix(prefix);
    },
  };
});

describe('redis version check at boot', () => {
  it('accepts the Redis the suite runs on (7.0 or later)', async () => {
    await expect(assertRedisVersion(raw)).resolves.toBeUndefined();
  });
  it.each(['redis_version:6.2.14', 'redis_version:', 'no version here'])('refuses %j: the scripts need PEXPIRETIME', async (line) => {
    await expect(assertRedisVersion({ info: async () => `# Server\r\n${line}\r\n` } as Pick<Redis, 'info'>)).rejects.toThrow(/agent-sts needs Redis 7.0 or later/);
  });
});

describe('redis store: Redis holds no garbage', () => {
  let prefix: string;
  let keys: RedisKeys;
  let store: SessionStore & ReplayStore;
  const now = () => Date.now();

  beforeEach(async () => {
    prefix = `test:contract:${randomBytes(6).toString('hex')}:`;
    keys = redisKeys(prefix);
    store = await openStore(prefix);
  });
  afterEach(async () => {
    await store.close();
    await dropPrefix(prefix);
  });

  /** Every key that records `s`: its hash, its children set, its entry in every index. */
  async function expectGone(s: Session): Promise<void> {
    expect(await raw.exists(keys.session(s.sid), keys.children(s.sid))).toBe(0);
    for (const a of agentsOf(s)) expect(await raw.zscore(keys.agentIndex(a), s.sid)).toBeNull();
    expect(await raw.zscore(keys.subjectIndex(s.sub), s.sid)).toBeNull();
    expect(await raw.zscore(keys.allSessions(), s.sid)).toBeNull();
    if (s.parent) expect(await raw.sismember(keys.children(s.parent), s.sid)).toBe(0);
    expect((await keysBesidesTombstones(prefix)).filter((k) => k.includes(s.sid))).toEqual([]);
  }

  async function expectIndexed(s: Session): Promise<void> {
    expect(await raw.exists(keys.session(s.sid))).toBe(1);
    for (const a of agentsOf(s)) expect(await raw.zscore(keys.agentIndex(a), s.sid)).toBe(String(s.exp * 1000));
    expect(await raw.zscore(keys.subjectIndex(s.sub), s.sid)).toBe(String(s.exp * 1000));
    expect(await raw.zscore(keys.allSessions(), s.sid)).toBe(String(s.exp * 1000));
    if (s.parent) expect(await raw.sismember(keys.children(s.parent), s.sid)).toBe(1);
  }

  it('every key written has a TTL; each expires no earlier than the sessions it records', async () => {
    const root = makeRoot({ exp: Math.floor(now() / 1000) + 200 });
    const child = makeDelegated(root, 'agent-b', { exp: root.exp - 50 });
    const grandchild = makeDelegated(child, 'agent-c', { exp: root.exp - 100 });
    const obo = makeRoot({ agent: 'agent-b', sub: 'user-1', act: { sub: 'agent-b' }, exp: root.exp + 400 });
    for (const s of [root, child, grandchild, obo]) expect(await store.create(s, now(), now())).toBe('created');
    expect(await store.useOnce('client-assertion', randomId('jti'), now() + 60_000, now())).toBe(true);
    expect(await store.useOnce('dpop-proof', randomId('jti'), now() + 60_000, now())).toBe(true);

    const all = await keysUnder(prefix);
    expect(all.length).toBeGreaterThan(0);
    for (const k of all) {
      const pttl = await raw.pttl(k);
      if (!(pttl > 0)) throw new Error(`${k} has no TTL (PTTL ${pttl})`);
    }
    // session hashes die with their session
    for (const s of [root, child, grandchild, obo]) expect(await raw.pexpiretime(keys.session(s.sid))).toBe(s.exp * 1000);
    // a children set lives as long as its longest-lived child
    expect(await raw.pexpiretime(keys.children(root.sid))).toBeGreaterThanOrEqual(child.exp * 1000);
    expect(await raw.pexpiretime(keys.children(child.sid))).toBeGreaterThanOrEqual(grandchild.exp * 1000);
    // an index lives as long as its longest-lived entry
    expect(await raw.pexpiretime(keys.allSessions())).toBeGreaterThanOrEqual(obo.exp * 1000);
    expect(await raw.pexpiretime(keys.agentIndex('agent-b'))).toBeGreaterThanOrEqual(obo.exp * 1000);
    expect(await raw.pexpiretime(keys.agentIndex('agent-a'))).toBeGreaterThanOrEqual(root.exp * 1000);
    expect(await raw.pexpiretime(keys.subjectIndex('agent-a'))).toBeGreaterThanOrEqual(root.exp * 1000);
    expect(await raw.pexpiretime(keys.subjectIndex('user-1'))).toBeGreaterThanOrEqual(obo.exp * 1000);
    for (const s of [root, child, grandchild, obo]) await expectIndexed(s);
  });

  it('no key of the prefix ever lacks a TTL: after creates, refused creates, kills and a non-integer exp replayed', async () => {
    await exerciseEveryWrite(store);
    const all = await keysUnder(prefix);
    expect(all.filter((k) => k.endsWith(AGENT_KILL_MARKER_SUFFIX))).toHaveLength(3);
    // the tagged kill's outbox and its mark are among them
    expect(all.filter((k) => k.endsWith(`}:${OUTBOX_SUFFIX}`))).toHaveLength(1);
    expect(all).toContain(keys.unannounced());
    for (const k of all) {
      const pttl = await raw.pttl(k);
      if (!(pttl > 0)) throw new Error(`${k} has no TTL (PTTL ${pttl})`);
    }
  });

  it('the create script itself refuses a non-integer expiry before its first write (even if a caller skipped the check)', async () => {
    const root = makeRoot();
    const k = redisKeys(prefix);
    const keysOf = lua.CREATE_KEYS.build({ sessionKey: k.session(root.sid), childrenKey: k.session(root.sid), tombstoneKey: k.revoked(root.sid) });
    const indexes = [k.agentIndex(root.agent), k.subjectIndex(root.sub), k.allSessions()];
    const args = (expMs: number | string) => [
      ...lua.CREATE_ARGS.build({ nowMs: now(), startedMs: now(), expMs, sid: root.sid, tree: k.tree(root.sid), anc: '', prune: '0', indexCount: indexes.length, namedCount: 0,
        audit: '0', auditBody: '', auditDigest: '', auditMaxRecords: 0, auditMinTimeMs: 0 }),
      ...encodeSession(root),
    ];
    for (const expMs of [(root.exp + 0.123456) * 1000, 'soon', '']) {
      await expect(raw.eval(lua.CREATE, keysOf.length + indexes.length, ...keysOf, ...indexes, ...args(expMs))).rejects.toThrow(/expMs must be an integer/);
    }
    await expect(raw.eval(lua.CREATE, keysOf.length, ...keysOf, ...args(root.exp * 1000).map((a, i) => (i === 0 ? '1.5' : a)))).rejects.toThrow(/nowMs must be an integer/);
    expect(await keysUnder(prefix)).toEqual([]);
    expect(await raw.eval(lua.CREATE, keysOf.length + indexes.length, ...keysOf, ...indexes, ...args(root.exp * 1000))).toBe('created');
    expect(await raw.pexpiretime(k.session(root.sid))).toBe(root.exp * 1000);
  });

  it("an agent-wide kill's marker extends the agent index's key (same hash tag), holds the kill time plus the skew allowance, and expires", async () => {
    const t = now();
    expect(keys.agentKillMarker('agent-q').startsWith(keys.agentIndex('agent-q'))).toBe(true);
    await store.revokeAgent('agent-q', t);
    expect(Number(await raw.get(keys.agentKillMarker('agent-q')))).toBe(t + AGENT_KILL_CLOCK_SKEW_MS);
    const pttl = await raw.pttl(keys.agentKillMarker('agent-q'));
    expect(pttl).toBeGreaterThan(AGENT_KILL_MARKER_TTL_MS - 60_000);
    expect(pttl).toBeLessThanOrEqual(AGENT_KILL_MARKER_TTL_MS);
  });

  it(`index entries long past their expiry are pruned within ${INDEX_PRUNE_EVERY} creates; recently expired ones stay`, async () => {
    const index = keys.agentIndex('agent-a');
    // Past the 5-minute grace (gone), and inside it (kept: another instance's clock may run behind).
    await raw.zadd(index, now() - 400_000, 'long-expired', now() - 60_000, 'just-expired');
    for (let i = 0; i < INDEX_PRUNE_EVERY; i++) expect(await store.create(makeRoot(), now(), now())).toBe('created');
    expect(await raw.zscore(index, 'long-expired')).toBeNull();
    expect(await raw.zscore(index, 'just-expired')).not.toBeNull();
    expect(await raw.zcard(index)).toBe(INDEX_PRUNE_EVERY + 1);
  });

  it('an ancestor whose record is removed outside a kill (an operator, an eviction) ends every descendant, at every depth', async () => {
    const root = makeRoot();
    const child = makeChild(root);
    const grandchild = makeChild(child);
    await Promise.all([root, child, grandchild].map(async (s) => expect(await store.create(s, now(), now())).toBe('created')));
    await raw.del(keys.session(root.sid));
    expect(await store.findByToken(child.sid, child.tokenHash, now())).toBeUndefined();
    expect(await store.findClaimsByToken(grandchild.sid, grandchild.tokenHash, now())).toBeUndefined();
    expect(await store.subtree(child.sid, now())).toEqual([]);
    expect(await store.create(makeChild(grandchild), now(), now())).toBe('ancestor_revoked');
  });

  it("a session stored with a later expiry than an ancestor's keeps the ancestor's, in its record and its key's TTL", async () => {
    const root = makeRoot();
    const child = makeChild(root, { exp: root.exp + 300 });
    expect(await store.create(root, now(), now())).toBe('created');
    expect(await store.create(child, now(), now())).toBe('created');
    expect((await store.findByToken(child.sid, child.tokenHash, now()))!.exp).toBe(root.exp);
    expect(await raw.pexpiretime(keys.session(child.sid))).toBe(root.exp * 1000);
  });

  it('raw tokens are never stored: only the hash', async () => {
    const root = makeRoot();
    expect(await store.create(root, now(), now())).toBe('created');
    const stored = await raw.hgetall(keys.session(root.sid));
    expect(Object.values(stored)).toContain(root.tokenHash);
    expect(JSON.stringify(stored)).not.toContain(`token-of-${root.sid}`);
  });

  it('after revokeTree no key of the killed sessions remains, the rest is untouched', async () => {
    const root = makeRoot();
    const a = makeDelegated(root, 'agent-b');
    const b = makeChild(root);
    const a1 = makeDelegated(a, 'agent-c');
    const a1x = makeChild(a1);
    for (const s of [root, a, b, a1, a1x]) expect(await store.create(s, now(), now())).toBe('created');

    expect(await store.revokeTree(a.sid, now())).toHaveLength(3);
    for (const s of [a, a1, a1x]) await expectGone(s);
    for (const s of [root, b]) await expectIndexed(s);
    // agent-b and agent-c held nothing else: their indexes are gone entirely
    expect(await raw.exists(keys.agentIndex('agent-b'), keys.agentIndex('agent-c'))).toBe(0);

    expect(await store.revokeTree(root.sid, now())).toHaveLength(2);
    for (const s of [root, b]) await expectGone(s);
    expect(await keysBesidesTombstones(prefix)).toEqual([]);
  });

  it('after revokeAgent no key of the killed sessions remains, the rest is untouched', async () => {
    const r1 = makeRoot();
    const k1 = makeDelegated(r1, 'agent-b');
    const g1 = makeDelegated(k1, 'agent-c');
    const l1 = makeChild(k1, { agent: 'agent-z', sub: 'other', act: undefined });
    const k2 = makeChild(r1);
    const r3 = makeRoot({ agent: 'agent-e', sub: 'user-1', act: { sub: 'agent-e', act: { sub: 'agent-b' } } });
    const r2 = makeRoot({ agent: 'agent-d', sub: 'agent-d' });
    for (const s of [r1, k1, g1, l1, k2, r3, r2]) expect(await store.create(s, now(), now())).toBe('created');

    expect(await store.revokeAgent('agent-b', now())).toHaveLength(4);
    for (const s of [k1, g1, l1, r3]) await expectGone(s);
    for (const s of [r1, k2, r2]) await expectIndexed(s);
    expect(await raw.exists(keys.agentIndex('agent-b'))).toBe(0);

    expect(await store.revokeAgent('agent-a', now())).toHaveLength(2);
    expect(await store.revokeAgent('agent-d', now())).toHaveLength(1);
    expect(await keysBesidesTombstones(prefix)).toEqual([]);
  });

  it('an agent-wide kill tombstones a session whose index entry is written but whose record is not yet: it can never appear', async () => {
    const inFlight = makeRoot({ agent: 'agent-x', sub: 'agent-x' });
    // create() writes the index entries first; this is the moment right after that.
    await raw.zadd(keys.agentIndex('agent-x'), inFlight.exp * 1000, inFlight.sid);
    expect(await store.revokeAgent('agent-x', now())).toHaveLength(0);
    expect(await raw.pexpiretime(keys.revoked(inFlight.sid))).toBe(inFlight.exp * 1000);
    expect(await store.create(inFlight, now(), now())).toBe('agent_revoked');
    expect(await store.findByToken(inFlight.sid, inFlight.tokenHash, now())).toBeUndefined();
    expect(await store.list({ agent: 'agent-x' }, now(), 10)).toEqual([]);
  });

  it('a refused create leaves no key behind, not even an empty children set or index', async () => {
    const root = makeRoot();
    expect(await store.create(root, now(), now())).toBe('created');
    expect(await store.revokeTree(root.sid, now())).toHaveLength(1);
    const afterKill = await keysUnder(prefix);
    expect(afterKill).toEqual([keys.killed(root.sid), keys.revoked(root.sid)]);
    const child = makeDelegated(root, 'agent-b', { sub: 'user-9' });
    expect(await store.create(child, now(), now())).toBe('ancestor_revoked');
    expect(await keysUnder(prefix)).toEqual(afterKill);
  });
});

describe('redis store: a kill racing 200 exchanges under the same parent', () => {
  let prefix: string;
  let keys: RedisKeys;
  let exchanger: SessionStore & ReplayStore;
  let killer: SessionStore & ReplayStore;
  const now = () => Date.now();

  beforeEach(async () => {
    prefix = `test:contract:${randomBytes(6).toString('hex')}:`;
    keys = redisKeys(prefix);
    // two connections, as two instances would have: the kill is not queued behind the creates
    exchanger = await openStore(prefix);
    killer = await openStore(prefix);
  });
  afterEach(async () => {
    await exchanger.close();
    await killer.close();
    await dropPrefix(prefix);
  });

  it('once revokeTree has resolved, no child is findable and no key of the tree remains', async () => {
    const root = makeRoot();
    const parent = makeDelegated(root, 'agent-b');
    expect(await exchanger.create(root, now(), now())).toBe('created');
    expect(await exchanger.create(parent, now(), now())).toBe('created');
    const children = Array.from({ length: 200 }, (_, i) =>
      i % 2 ? makeDelegated(parent, 'agent-c', { scope: ['a:z'] }) : makeChild(parent, { scope: ['a:z'] }),
    );

    const creates = children.map((c) => exchanger.create(c, now(), now()));
    await creates[20]; // some exchanges are in, most are still in flight
    const revoked = (await killer.revokeTree(parent.sid, now())).length;

    const found = await Promise.all(children.map((c) => killer.findByToken(c.sid, c.tokenHash, now())));
    expect(found.filter(Boolean)).toEqual([]);
    expect(await killer.findByToken(parent.sid, parent.tokenHash, now())).toBeUndefined();
    const tree = new Set([parent.sid, ...children.map((c) => c.sid)]);
    const leftovers = async () => (await keysBesidesTombstones(prefix)).filter((k) => [...tree].some((sid) => k.endsWith(`:${sid}`)));
    expect(await leftovers()).toEqual([]);

    // every create either landed before the kill (and was killed by it) or was refused after it
    const results = await Promise.all(creates);
    expect(results.filter((r) => r !== 'created' && r !== 'ancestor_revoked')).toEqual([]);
    expect(results.filter((r) => r === 'created').length).toBeGreaterThanOrEqual(21);
    expect(revoked).toBe(1 + results.filter((r) => r === 'created').length);
    expect((await Promise.all(children.map((c) => killer.findByToken(c.sid, c.tokenHash, now())))).filter(Boolean)).toEqual([]);
    expect(await leftovers()).toEqual([]);
    for (const index of [keys.allSessions(), keys.agentIndex('agent-b'), keys.agentIndex('agent-c'), keys.subjectIndex(root.sub)]) {
      const members = await raw.zrange(index, '0', '-1');
      expect(members.filter((m) => tree.has(m))).toEqual([]);
    }
    // the root is untouched and is the only session left
    expect(await killer.subtree(root.sid, now())).toStrictEqual([root]);
    expect((await killer.list({}, now(), 1_000)).map((s) => s.sid)).toEqual([root.sid]);
  });
});
