import { randomBytes } from 'node:crypto';
import { redisKeys } from '../../src/store/keys.js';
import { MemoryRegistryStore } from '../../src/store/memory/registry-store.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { RedisRegistryStore } from '../../src/store/redis/registry-store.js';
import { clusterForFile } from '../helpers/redis-cluster.js';
import { testRedisUrl } from '../helpers/sts.js';
import { registryStoreContract } from './registry-store.contract.js';

registryStoreContract('memory', async () => {
  const store = new MemoryRegistryStore();
  return { stores: [store, store], close: async () => {} };
});

/** Two clients (two instances) on one key prefix. */
async function twoOn(url: string) {
  const prefix = `test:reg:${randomBytes(6).toString('hex')}:`;
  const clients = [0, 1].map(() => connectRedis({ url, commandTimeoutMs: 2_000 }));
  for (const c of clients) {
    c.on('error', () => {});
    await c.connect();
  }
  return {
    stores: clients.map((c) => new RedisRegistryStore(c, redisKeys(prefix))) as [RedisRegistryStore, RedisRegistryStore],
    close: async () => {
      for (const c of clients) c.disconnect();
    },
  };
}

registryStoreContract('redis', () => twoOn(testRedisUrl()));

const cluster = clusterForFile();
registryStoreContract('redis cluster', () => twoOn(cluster.url()));
