import type { RedisKeys } from '../keys.js';
import type { ScimSeenStore } from '../scim-seen.js';
import type { RedisClient } from './connect.js';
import { unavailableOnError } from './unavailable.js';

/** Writes the sighting only when none within the interval is kept: one read, at most one write, atomic. */
const SEE = `
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if last and last > tonumber(ARGV[2]) - tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/** FORGET_BATCH ids per HDEL, so a long list never makes one huge command. */
const FORGET_BATCH = 500;

/** One HASH, agent id → last sighting (ms). */
export class RedisScimSeenStore implements ScimSeenStore {
  readonly #see: (...args: string[]) => Promise<number>;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {
    redis.defineCommand('stsScimSee', { lua: SEE, numberOfKeys: 1 });
    this.#see = (redis as unknown as Record<string, (...args: string[]) => Promise<number>>).stsScimSee!.bind(redis);
  }

  async see(agentId: string, nowMs: number, intervalMs: number): Promise<boolean> {
    return (await unavailableOnError(this.#see(this.keys.scimSeen(), agentId, String(nowMs), String(intervalMs)))) === 1;
  }

  async all(): Promise<Map<string, number>> {
    const raw = await unavailableOnError(this.redis.hgetall(this.keys.scimSeen()));
    return new Map(Object.entries(raw).map(([id, ms]) => [id, Number(ms)]));
  }

  async forget(agentIds: readonly string[]): Promise<void> {
    for (let i = 0; i < agentIds.length; i += FORGET_BATCH) await unavailableOnError(this.redis.hdel(this.keys.scimSeen(), ...agentIds.slice(i, i + FORGET_BATCH)));
  }
}
