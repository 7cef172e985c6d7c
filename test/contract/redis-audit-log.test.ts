import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/store/keys.js';
import { RedisAuditLog } from '../../src/store/redis/audit-log.js';
import { LINK_HEX_LENGTH, linkHash, sha256Hex } from '../../src/store/audit.js';
import { LINK_SELF_TEST } from '../../src/store/redis/audit-scripts.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { testRedisUrl } from '../helpers/sts.js';
import { auditLogContract, entry } from './audit-log.contract.js';

auditLogContract('redis', async () => {
  const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 2_000 });
  client.on('error', () => {});
  await client.connect();
  const prefix = `test:audit:${randomBytes(6).toString('hex')}:`;
  return {
    log: new RedisAuditLog(client, redisKeys(prefix)),
    close: async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length) await client.del(...keys);
      client.disconnect();
    },
  };
});

describe('the Lua link of the append script', () => {
  let raw: Redis;
  beforeAll(async () => {
    raw = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await raw.connect();
  });
  afterAll(() => raw.disconnect());

  it('computes the link exactly as linkHash (node:crypto) does, for small and large seqs', async () => {
    for (const seq of [1, 2, 255, 256, 65_537, 2 ** 32 + 3, Number.MAX_SAFE_INTEGER]) {
      const prev = sha256Hex(`p${seq}`).slice(0, LINK_HEX_LENGTH);
      const digest = sha256Hex(`d${seq}`);
      expect(await raw.eval(LINK_SELF_TEST, 0, seq, prev, digest)).toBe(linkHash(seq, prev, digest));
    }
  });

  it('links SHA-1 of the 8-byte big-endian seq, then the previous hash and the digest as their hex text', () => {
    const prev = sha256Hex('p').slice(0, LINK_HEX_LENGTH);
    const digest = sha256Hex('d');
    const seq = Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]);
    const expected = createHash('sha1').update(Buffer.concat([seq, Buffer.from(prev + digest, 'latin1')])).digest('hex');
    expect(linkHash(2 ** 32 + 2, prev, digest)).toBe(expected);
  });

  it('an append that cannot write (the stream key holds another type) fails with AUDITFAIL and moves nothing', async () => {
    const client = connectRedis({ url: testRedisUrl(), commandTimeoutMs: 2_000 });
    await client.connect();
    const keys = redisKeys(`test:audit:${randomBytes(6).toString('hex')}:`);
    const log = new RedisAuditLog(client, keys);
    await log.append(entry(1));
    const head = await log.head();
    await raw.del(keys.auditStream());
    await raw.set(keys.auditStream(), 'not a stream');
    await expect(log.append(entry(2))).rejects.toMatchObject({ name: 'StoreUnavailableError' });
    expect(await log.head()).toEqual(head);
    await raw.del(keys.auditStream(), keys.auditHead());
    client.disconnect();
  });
});
