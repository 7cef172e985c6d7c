import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { dpopVerifier, redisReplayCache } from 'agent-sts-gate/dpop';
import { DPOP_PROOF_MAX_AGE_SECONDS } from 'agent-sts-gate/protocol';
import { dpopKey, proof } from '../../packages/gate/test/helpers/dpop.js';
import { testRedisUrl } from '../helpers/sts.js';

/**
 * The gate's Redis-backed DPoP replay cache on a real Redis (the gate's own tests need no Redis:
 * packages/gate/test/dpop-verifier.test.ts checks every other part of the proof check).
 */
const URL_ = 'https://api.example.com/invoices';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl';
const NOW_S = 1_800_000_000;
const nowMs = () => NOW_S * 1000;

describe('redisReplayCache on a real Redis', () => {
  let redis: Redis;
  const prefix = `test:dpop:${process.pid}:${Date.now()}:`;
  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('two resource-server processes sharing Redis: a proof used at one is refused at the other', async () => {
    const key = await dpopKey('ES256');
    const [a, b] = [0, 1].map(() => dpopVerifier({ nowMs, replay: redisReplayCache(redis, { prefix, nowMs }) }));
    const p = await proof(key, { htm: 'GET', htu: URL_, token: TOKEN, iat: NOW_S });
    const check = { scheme: 'dpop', proof: p, method: 'GET', url: URL_, accessToken: TOKEN, jkt: key.jkt } as const;
    expect(await a!.check(check)).toEqual({ ok: true });
    expect(await b!.check(check)).toEqual({ ok: false, error: 'invalid_dpop_proof', description: expect.stringMatching(/already used/) });
    const keys = await redis.keys(`${prefix}*`);
    expect(keys).toHaveLength(1);
    const ttl = await redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(DPOP_PROOF_MAX_AGE_SECONDS * 1000 + 1);
  });
});
