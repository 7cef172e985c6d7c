import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { Cluster, Redis } from 'ioredis';
import { redisKeys } from '../../src/store/keys.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisSessionStore } from '../../src/store/redis/session-store.js';
import { clusterForFile } from '../helpers/redis-cluster.js';
import { exerciseEveryWrite, makeChild, makeDelegated, makeRoot, sessionStoreContract } from './session-store.contract.js';

/** The same contract as a single Redis, on a real 3-master Redis Cluster on loopback. */
const cluster = clusterForFile();

async function openStore(prefix: string) {
  const client = connectRedis({ url: cluster.url(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  return { client, store: new RedisSessionStore(client, redisKeys(prefix)) };
}

/** Every key of the prefix on every master, with a raw connection to the master holding it. */
async function keysUnder(client: Cluster, prefix: string): Promise<{ key: string; node: Redis }[]> {
  const out: { key: string; node: Redis }[] = [];
  for (const node of client.nodes('master')) for (const key of await node.keys(`${prefix}*`)) out.push({ key, node });
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

sessionStoreContract('redis cluster', async () => {
  const prefix = `test:cluster:${randomBytes(6).toString('hex')}:`;
  const { client, store } = await openStore(prefix);
  return {
    store,
    wallClockReplayExpiry: true,
    // Every key with its full content and expiry, read from the master that holds it. An index
    // (ZSET) shows only that it expires: on a cluster the index entries are written before the
    // record, so a refused create removes its entries but may leave an index's expiry extended
    // (never shortened: restoring it could let the index expire before another live entry).
    snapshot: async () =>
      Promise.all(
        (await keysUnder(client as Cluster, prefix)).map(async ({ key, node }) => {
          const expiry = (await node.type(key)) === 'zset' ? `expires:${(await node.pttl(key)) > 0}` : await node.pexpiretime(key);
          return `${key} ${(await node.dumpBuffer(key))?.toString('hex')} ${expiry}`;
        }),
      ),
    close: () => store.close(),
  };
});

describe('redis cluster: the key layout', () => {
  it('a tree shares one slot, different trees spread over the masters, indexes sit in their own slots', async () => {
    const { client, store } = await openStore(`test:cluster:${randomBytes(6).toString('hex')}:`);
    const keys = redisKeys('sts:');
    const root = makeRoot();
    const child = makeDelegated(root, 'agent-b');
    const grandchild = makeChild(child);
    for (const s of [root, child, grandchild]) expect(await store.create(s, Date.now(), Date.now())).toBe('created');
    const slot = (k: string) => (client as Cluster).cluster('KEYSLOT', k) as Promise<number>;
    const treeSlots = await Promise.all([root, child, grandchild].flatMap((s) => [keys.session(s.sid), keys.children(s.sid), keys.revoked(s.sid)]).map(slot));
    expect(new Set(treeSlots).size).toBe(1);
    // an agent's kill marker sits with that agent's index, so INDEX_ADD checks it in the same step
    for (const agent of ['agent-a', 'agent-b', 'billing-agent']) expect(await slot(keys.agentKillMarker(agent))).toBe(await slot(keys.agentIndex(agent)));

    const owners = new Set<string>();
    const slotsTable = (await (client as Cluster).cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    for (let i = 0; i < 30; i++) {
      const s = await slot(keys.session(makeRoot().sid));
      owners.add(String(slotsTable.find(([from, to]) => s >= from && s <= to)![2][1]));
    }
    expect(owners.size).toBe(3);
    await store.close();
  });
});

describe('redis cluster: every key expires', () => {
  it('no key of the prefix on any master lacks a TTL: after creates, refused creates, kills and a non-integer exp replayed', async () => {
    const prefix = `test:cluster:${randomBytes(6).toString('hex')}:`;
    const { client, store } = await openStore(prefix);
    await exerciseEveryWrite(store);
    const all = await keysUnder(client as Cluster, prefix);
    expect(all.length).toBeGreaterThan(5);
    for (const { key, node } of all) {
      const pttl = await node.pttl(key);
      if (!(pttl > 0)) throw new Error(`${key} has no TTL (PTTL ${pttl})`);
    }
    await store.close();
  });
});

describe('redis cluster: kill invariants', () => {
  it('a kill racing 200 creates under the same tree: once it resolved, nothing of the subtree is findable', async () => {
    const { store } = await openStore(`test:cluster:${randomBytes(6).toString('hex')}:`);
    for (let round = 0; round < 3; round++) {
      const root = makeRoot();
      const parent = makeChild(root);
      expect(await store.create(root, Date.now(), Date.now())).toBe('created');
      expect(await store.create(parent, Date.now(), Date.now())).toBe('created');
      const kids = Array.from({ length: 200 }, () => makeChild(parent));
      const creates = kids.map((k) => store.create(k, Date.now(), Date.now()));
      const killed = (await store.revokeTree(parent.sid, Date.now())).length;
      const results = await Promise.all(creates);
      expect(results.filter((r) => r !== 'created' && r !== 'ancestor_revoked')).toEqual([]);
      expect(killed).toBe(1 + results.filter((r) => r === 'created').length);
      const found = await Promise.all(kids.map((k) => store.findByToken(k.sid, k.tokenHash, Date.now())));
      expect(found.filter(Boolean)).toEqual([]);
      expect(await store.findByToken(root.sid, root.tokenHash, Date.now())).toBeDefined();
    }
    await store.close();
  });

  it('an agent-wide kill reaches sessions in many slots, and ones it acts in', async () => {
    const { store } = await openStore(`test:cluster:${randomBytes(6).toString('hex')}:`);
    const roots = Array.from({ length: 50 }, () => makeRoot({ agent: 'agent-k', sub: 'agent-k' }));
    const delegated = roots.slice(0, 10).map((r) => makeDelegated(r, 'agent-m'));
    const bystander = makeRoot({ agent: 'agent-n', sub: 'agent-n' });
    for (const s of [...roots, ...delegated, bystander]) expect(await store.create(s, Date.now(), Date.now())).toBe('created');
    expect(await store.revokeAgent('agent-m', Date.now())).toHaveLength(10);
    expect(await store.revokeAgent('agent-k', Date.now())).toHaveLength(50);
    for (const s of [...roots, ...delegated]) expect(await store.findByToken(s.sid, s.tokenHash, Date.now())).toBeUndefined();
    expect(await store.findByToken(bystander.sid, bystander.tokenHash, Date.now())).toBeDefined();
    expect(await store.list({ agent: 'agent-k' }, Date.now(), 100)).toEqual([]);
    await store.close();
  });
});
