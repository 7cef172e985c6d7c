import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { UsageAggregator } from '../../src/audit/usage.js';
import { redisKeys } from '../../src/store/keys.js';
import { MemoryUsageStore } from '../../src/store/memory/usage-store.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisUsageStore } from '../../src/store/redis/usage-store.js';
import type { UsageRow, UsageStore } from '../../src/store/usage.js';
import { testRedisUrl } from '../helpers/sts.js';

const row = (over: Partial<UsageRow> = {}): UsageRow => ({ kind: 'introspected', via: 'rs', agent: 'a', target: 'https://t', scope: 's', count: 1, lastMs: 1_000, ...over });

async function open(kind: 'memory' | 'redis'): Promise<{ store: UsageStore; close(): Promise<void> }> {
  if (kind === 'memory') return { store: new MemoryUsageStore(), close: async () => {} };
  const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  const prefix = `test:usage:${randomBytes(6).toString('hex')}:`;
  return {
    store: new RedisUsageStore(client, redisKeys(prefix)),
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      for (const k of keys) expect(await client.pttl(k)).toBeGreaterThan(0);
      if (keys.length) await client.del(...keys);
      client.disconnect();
    },
  };
}

describe.each(['memory', 'redis'] as const)('UsageStore contract: %s', (kind) => {
  it('adds counts and keeps the latest time per key and day; keys with odd characters stay apart', async () => {
    const { store, close } = await open(kind);
    await store.add('2026-01-01', [row(), row({ count: 2, lastMs: 500 }), row({ scope: 's|x", ' })], 90);
    await store.add('2026-01-01', [row({ count: 4, lastMs: 3_000 })], 90);
    await store.add('2026-01-02', [row({ kind: 'issued', via: '' })], 90);
    const day1 = await store.read(['2026-01-01']);
    expect(day1).toHaveLength(2);
    expect(day1).toContainEqual(row({ count: 7, lastMs: 3_000 }));
    expect(day1).toContainEqual(row({ scope: 's|x", ' }));
    expect(await store.read(['2026-01-02', '2026-01-03'])).toEqual([row({ kind: 'issued', via: '' })]);
    await close();
  });

  it('the aggregator counts in process and writes only on flush; a failed flush keeps the counts', async () => {
    const { store, close } = await open(kind);
    const usage = new UsageAggregator(store, 90);
    const t = Date.parse('2026-03-04T05:06:07Z');
    for (let i = 0; i < 5; i++) usage.note('introspected', 'rs', 'a', 'https://t', ['r', 'w'], t + i);
    expect(await store.read(['2026-03-04'])).toEqual([]);
    const failing: UsageStore = { add: async () => { throw new Error('down'); }, read: async () => [], forget: async () => {} };
    const flaky = new UsageAggregator(failing, 90);
    flaky.note('issued', '', 'a', 'https://t', ['r'], t);
    await expect(flaky.flush()).rejects.toThrow('down');
    await usage.flush();
    const rows = await store.read(['2026-03-04']);
    expect(rows).toHaveLength(2);
    expect(rows).toContainEqual({ kind: 'introspected', via: 'rs', agent: 'a', target: 'https://t', scope: 'r', count: 5, lastMs: t + 4 });
    // the failed batch is still pending: a later flush to a working store would write it
    const spy: UsageRow[] = [];
    (flaky as unknown as { store: UsageStore }).store = { add: async (_d, r) => { spy.push(...r); }, read: async () => [], forget: async () => {} };
    await flaky.flush();
    expect(spy).toEqual([{ kind: 'issued', via: '', agent: 'a', target: 'https://t', scope: 'r', count: 1, lastMs: t }]);
    await close();
  });

  it('forget drops every row naming the agent, as holder or as the agent exchanged from, in the retained days, in the store and in process', async () => {
    const { store, close } = await open(kind);
    const t = Date.parse('2026-03-10T12:00:00Z');
    const days = ['2026-03-10', '2026-03-09', '2026-03-01'];
    for (const day of days) {
      await store.add(day, [
        row({ agent: 'gone' }), row({ kind: 'issued', via: 'gone', agent: 'child' }), row({ agent: 'kept' }), row({ kind: 'introspected', via: 'gone', agent: 'kept' }),
      ], 90);
    }
    const usage = new UsageAggregator(store, 90);
    usage.note('issued', '', 'gone', 'https://t', ['r'], t);
    usage.note('issued', 'gone', 'child', 'https://t', ['r'], t);
    usage.note('issued', '', 'kept', 'https://t', ['r'], t);
    usage.forget('gone');
    await store.forget('gone', 2, t);
    await usage.flush();
    const agentsOn = async (day: string) => (await store.read([day])).map((r) => `${r.kind}:${r.via}:${r.agent}:${r.count}`).sort();
    // an introspection by a resource server whose id happens to equal the agent's is not the agent's usage
    expect(await agentsOn('2026-03-10')).toEqual(['introspected:gone:kept:1', 'introspected:rs:kept:1', 'issued::kept:1']);
    expect(await agentsOn('2026-03-09')).toEqual(['introspected:gone:kept:1', 'introspected:rs:kept:1']);
    // outside the retention asked for: left to expire on its own
    expect(await agentsOn('2026-03-01')).toHaveLength(4);
    await close();
  });

  it('the aggregator files each count under its own UTC day, across midnight and back (a clock set back)', async () => {
    const { store, close } = await open(kind);
    const usage = new UsageAggregator(store, 90);
    const midnight = Date.parse('2026-03-05T00:00:00Z');
    for (const at of [midnight - 1, midnight, midnight + 1, midnight - 2]) usage.note('issued', '', 'a', 'https://t', ['r'], at);
    await usage.flush();
    expect(await store.read(['2026-03-04'])).toEqual([{ kind: 'issued', via: '', agent: 'a', target: 'https://t', scope: 'r', count: 2, lastMs: midnight - 1 }]);
    expect(await store.read(['2026-03-05'])).toEqual([{ kind: 'issued', via: '', agent: 'a', target: 'https://t', scope: 'r', count: 2, lastMs: midnight + 1 }]);
    await close();
  });
});
