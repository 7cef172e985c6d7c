import type { RedisKeys } from '../keys.js';
import type { ProbeStore, ProbeSummary } from '../probes.js';
import type { RedisClient } from './connect.js';
import { unavailableOnError } from './unavailable.js';

/** One HASH, resource server id → its last probe as JSON. */
export class RedisProbeStore implements ProbeStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async put(resourceServer: string, summary: ProbeSummary): Promise<void> {
    await unavailableOnError(this.redis.hset(this.keys.probes(), resourceServer, JSON.stringify(summary)));
  }

  async all(): Promise<Map<string, ProbeSummary>> {
    const raw = await unavailableOnError(this.redis.hgetall(this.keys.probes()));
    return new Map(Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as ProbeSummary]));
  }
}
