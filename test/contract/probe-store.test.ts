import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { redisKeys } from '../../src/store/keys.js';
import { MemoryProbeStore } from '../../src/store/memory/probe-store.js';
import type { ProbeStore, ProbeSummary, ProbeTarget } from '../../src/store/probes.js';
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
      expect(keys.every((k) => k === `${prefix}probes` || k === `${prefix}probe-targets` || k.startsWith(`${prefix}probe-lease:`))).toBe(true);
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

  it('keeps one probe target per resource server, replaced by a later one, forgotten on undefined', async () => {
    const { store, close } = await open(kind);
    const target = (url: string): ProbeTarget => ({ url, dpop: false, registered: '2026-12-07T12:00:00.000Z', by: 'admin' });
    expect(await store.targets()).toEqual(new Map());
    await store.setTarget('https://api', target('https://api/a'));
    await store.setTarget('https://api', { ...target('https://api/b'), scope: 'read', dpop: true });
    await store.setTarget('https://other', target('https://other/x'));
    expect(await store.targets()).toEqual(new Map([['https://api', { ...target('https://api/b'), scope: 'read', dpop: true }], ['https://other', target('https://other/x')]]));
    await store.setTarget('https://other', undefined);
    await store.setTarget('https://never', undefined);
    expect([...(await store.targets()).keys()]).toEqual(['https://api']);
    await close();
  });

  it('a claim is held by one holder for its time: a second holder is refused, another resource server is apart', async () => {
    const { store, close } = await open(kind);
    const now = Date.now();
    expect(await store.claim('https://api', 'a', 60_000, now)).toBe(true);
    expect(await store.claim('https://api', 'b', 60_000, now)).toBe(false);
    expect(await store.claim('https://api', 'a', 60_000, now)).toBe(false);
    expect(await store.claim('https://other', 'b', 60_000, now)).toBe(true);
    await close();
  });
});
