import { StoreUnavailableError } from '../../errors.js';
import type { RedisKeys } from '../keys.js';
import type { ProbeStore, ProbeSummary } from '../probes.js';
import type { RedisClient } from './connect.js';

async function guard<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    throw new StoreUnavailableError(err);
  }
}

/** One HASH, resource server id → its last probe as JSON. */
export class RedisProbeStore implements ProbeStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async put(resourceServer: string, summary: ProbeSummary): Promise<void> {
    await guard(this.redis.hset(this.keys.probes(), resourceServer, JSON.stringify(summary)));
  }

  async all(): Promise<Map<string, ProbeSummary>> {
    const raw = await guard(this.redis.hgetall(this.keys.probes()));
    return new Map(Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as ProbeSummary]));
  }
}
