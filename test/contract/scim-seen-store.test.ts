import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { redisKeys } from '../../src/store/keys.js';
import { MemoryScimSeenStore } from '../../src/store/memory/scim-seen-store.js';
import type { ScimSeenStore } from '../../src/store/scim-seen.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisScimSeenStore } from '../../src/store/redis/scim-seen-store.js';
import { testRedisUrl } from '../helpers/sts.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 7, 12);

async function open(kind: 'memory' | 'redis'): Promise<{ store: ScimSeenStore; close(): Promise<void> }> {
  if (kind === 'memory') return { store: new MemoryScimSeenStore(), close: async () => {} };
  const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  const prefix = `test:scim-seen:${randomBytes(6).toString('hex')}:`;
  return {
    store: new RedisScimSeenStore(client, redisKeys(prefix)),
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      expect(keys.filter((k) => k !== `${prefix}scim:seen`)).toEqual([]);
      if (keys.length) await client.del(...keys);
      client.disconnect();
    },
  };
}

describe.each(['memory', 'redis'] as const)('ScimSeenStore contract: %s', (kind) => {
  it('writes a sighting once per interval: a repeat within it keeps the first, one past it replaces it', async () => {
    const { store, close } = await open(kind);
    expect(await store.all()).toEqual(new Map());
    expect(await store.see('a', T0, HOUR)).toBe(true);
    expect(await store.see('a', T0 + HOUR - 1, HOUR)).toBe(false);
    expect(await store.all()).toEqual(new Map([['a', T0]]));
    expect(await store.see('a', T0 + HOUR, HOUR)).toBe(true);
    expect(await store.see('urn:x "odd", id', T0, HOUR)).toBe(true);
    expect(await store.all()).toEqual(new Map([['a', T0 + HOUR], ['urn:x "odd", id', T0]]));
    await close();
  });

  it('a sighting kept from a later clock (another instance ahead) is not moved back', async () => {
    const { store, close } = await open(kind);
    await store.see('a', T0 + 10 * HOUR, HOUR);
    expect(await store.see('a', T0, HOUR)).toBe(false);
    expect((await store.all()).get('a')).toBe(T0 + 10 * HOUR);
    await close();
  });

  it('forget drops the named agents only; forgetting none or unknown ids is fine', async () => {
    const { store, close } = await open(kind);
    for (const id of ['a', 'b', 'c']) await store.see(id, T0, HOUR);
    await store.forget([]);
    await store.forget(['a', 'c', 'nope']);
    expect(await store.all()).toEqual(new Map([['b', T0]]));
    await close();
  });
});
