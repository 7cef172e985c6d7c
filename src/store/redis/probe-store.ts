import type { RedisKeys } from '../keys.js';
import type { ProbeStore, ProbeSummary, ProbeTarget } from '../probes.js';
import type { RedisClient } from './connect.js';
import { unavailableOnError } from './unavailable.js';

/** One HASH resource server id → its last probe as JSON, one of its probe targets, and a leased STRING per resource server. */
export class RedisProbeStore implements ProbeStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async put(resourceServer: string, summary: ProbeSummary): Promise<void> {
    await unavailableOnError(this.redis.hset(this.keys.probes(), resourceServer, JSON.stringify(summary)));
  }

  async all(): Promise<Map<string, ProbeSummary>> {
    const raw = await unavailableOnError(this.redis.hgetall(this.keys.probes()));
    return new Map(Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as ProbeSummary]));
  }

  async setTarget(resourceServer: string, target: ProbeTarget | undefined): Promise<void> {
    if (target) await unavailableOnError(this.redis.hset(this.keys.probeTargets(), resourceServer, JSON.stringify(target)));
    else await unavailableOnError(this.redis.hdel(this.keys.probeTargets(), resourceServer));
  }

  async targets(): Promise<Map<string, ProbeTarget>> {
    const raw = await unavailableOnError(this.redis.hgetall(this.keys.probeTargets()));
    return new Map(Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as ProbeTarget]));
  }

  async claim(resourceServer: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await unavailableOnError(this.redis.set(this.keys.probeLease(resourceServer), holder, 'PX', ttlMs, 'NX'))) === 'OK';
  }
}
