import { randomBytes } from 'node:crypto';
import { redisKeys } from '../../src/store/keys.js';
import { MemorySsfStore } from '../../src/store/memory/ssf-store.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisSsfStore } from '../../src/store/redis/ssf-store.js';
import { testRedisUrl } from '../helpers/sts.js';
import { ssfStoreContract } from './ssf-store.contract.js';

ssfStoreContract('memory', async () => ({ store: new MemorySsfStore(), close: async () => {} }));

ssfStoreContract('redis', async () => {
  const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  const prefix = `test:ssf:${randomBytes(6).toString('hex')}:`;
  return {
    store: new RedisSsfStore(client, redisKeys(prefix)),
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length) await client.del(...keys);
      client.disconnect();
    },
  };
});
