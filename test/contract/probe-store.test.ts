import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { redisKeys } from '../../src/store/keys.js';
import { MemoryProbeStore } from '../../src/store/memory/probe-store.js';
import type { ProbeStore, ProbeSummary } from '../../src/store/probes.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisProbeStore } from '../../src/store/redis/probe-store.js';
import { testRedisUrl } from '../helpers/sts.js';

const summary = (over: Partial<ProbeSummary> = {}): ProbeSummary => ({
  verdict: 'enforcing', at: '2026-12-07T12:00:00.000Z', recorded: '2026-12-07T12:00:01.000Z', target: 'https://api/authz', killLatencyMs: 12, failed: [], by: 'admin', ...over,
});

async function open(kind: 'memory' | 'redis'): Promise<{ store: ProbeStore; close(): Promise<void> }> {
  if (kind === 'memory') return { store: new MemoryProbeStore(), close: async () => {} };
  const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  const prefix = `test:probes:${randomBytes(6).toString('hex')}:`;
  return {
    store: new RedisProbeStore(client, redisKeys(prefix)),
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      expect(keys).toEqual([`${prefix}probes`]);
      await client.del(...keys);
      client.disconnect();
    },
  };
}

describe.each(['memory', 'redis'] as const)('ProbeStore contract: %s', (kind) => {
  it('keeps each resource server\'s last probe, the later one replacing the earlier; ids with odd characters stay apart', async () => {
    const { store, close } = await open(kind);
    expect(await store.all()).toEqual(new Map());
    await store.put('https://api', summary());
    await store.put('https://api', summary({ verdict: 'kill_blind', killLatencyMs: null, failed: ['killed'] }));
    await store.put('urn:x "odd", id', summary());
    expect(await store.all()).toEqual(new Map([
      ['https://api', summary({ verdict: 'kill_blind', killLatencyMs: null, failed: ['killed'] })],
      ['urn:x "odd", id', summary()],
    ]));
    await close();
  });

  it('what it returns is a copy: changing it changes nothing kept', async () => {
    const { store, close } = await open(kind);
    await store.put('https://api', summary());
    (await store.all()).get('https://api')!.failed.push('x');
    expect((await store.all()).get('https://api')).toEqual(summary());
    await close();
  });
});
