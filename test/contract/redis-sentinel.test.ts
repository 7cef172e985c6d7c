import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { redisKeys } from '../../src/store/keys.js';
import { connectRedis } from '../../src/store/redis/connect.js';
import { parseRedisUrl } from '../../src/store/redis/url.js';
import { RedisSessionStore } from '../../src/store/redis/session-store.js';
import { freePort } from '../helpers/redis-process.mjs';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { hashOf, makeChild, makeRoot } from './session-store.contract.js';

describe('REDIS_URL forms', () => {
  it('parses single, sentinel and cluster URLs, with credentials and TLS', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2')).toEqual({ kind: 'single', tls: false, hosts: [{ host: '127.0.0.1', port: 6380 }], db: 2 });
    expect(parseRedisUrl('rediss://u:p%40ss@redis.internal')).toEqual({
      kind: 'single', tls: true, hosts: [{ host: 'redis.internal', port: 6379 }], username: 'u', password: 'p@ss',
    });
    expect(parseRedisUrl('redis+sentinel://s1:26379,s2/mymaster/3')).toEqual({
      kind: 'sentinel', tls: false, hosts: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], name: 'mymaster', db: 3,
    });
    expect(parseRedisUrl('redis+cluster://:secret@n1:7000,n2:7001')).toEqual({
      kind: 'cluster', tls: false, hosts: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], password: 'secret',
    });
    expect(() => parseRedisUrl('http://x')).toThrow(/REDIS_URL/);
    expect(() => connectRedis({ url: 'redis+sentinel://s1:26379', commandTimeoutMs: 100 })).toThrow(/master name/);
  });
});

/** A real redis-server and a real Sentinel monitoring it: agent-sts finds the master through Sentinel. */
describe('Redis Sentinel', () => {
  let master: RedisProcess;
  let sentinel: ChildProcess;
  let sentinelPort: number;

  beforeAll(async () => {
    master = await startRedis();
    sentinelPort = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`, ''].join('\n'));
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  });
  afterAll(async () => {
    sentinel?.kill('SIGKILL');
    await master?.stop();
  });

  it('stores, finds and kills sessions through a sentinel-discovered master', async () => {
    const client = connectRedis({ url: `redis+sentinel://127.0.0.1:${sentinelPort}/mymaster`, commandTimeoutMs: 1_000 });
    client.on('error', () => {});
    for (let i = 0; ; i++) {
      try {
        await client.connect();
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const store = new RedisSessionStore(client, redisKeys(`test:sentinel:${sentinelPort}:`));
    const root = makeRoot();
    const child = makeChild(root);
    expect(await store.create(root, Date.now(), Date.now())).toBe('created');
    expect(await store.create(child, Date.now(), Date.now())).toBe('created');
    expect((await store.findByToken(child.sid, child.tokenHash, Date.now()))?.parent).toBe(root.sid);
    expect(await store.findByToken(child.sid, hashOf('another token'), Date.now())).toBeUndefined();
    expect(await store.revokeTree(root.sid, Date.now())).toHaveLength(2);
    expect(await store.findByToken(child.sid, child.tokenHash, Date.now())).toBeUndefined();
    await store.close();
  });
});
