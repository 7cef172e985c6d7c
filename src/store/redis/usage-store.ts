import type { RedisKeys } from '../keys.js';
import { fromField, namesAgent, retainedDays, usageField, type UsageRow, type UsageStore } from '../usage.js';
import type { RedisClient } from './connect.js';
import { unavailableOnError } from './unavailable.js';

const MS_PER_DAY = 86_400_000;

/** KEYS: counts, lasts (one day, one slot). ARGV: ttlMs, then field, count, lastMs triples. */
const ADD = `
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  local old = tonumber(redis.call('HGET', KEYS[2], ARGV[i]))
  if not old or old < tonumber(ARGV[i + 2]) then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2]) end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
`;

/** Two HASHes per UTC day (counts and last times), expiring after the retention. */
export class RedisUsageStore implements UsageStore {
  readonly #add: (...args: (string | number)[]) => Promise<unknown>;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {
    redis.defineCommand('stsUsageAdd', { lua: ADD, numberOfKeys: 2 });
    this.#add = (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>).stsUsageAdd!.bind(redis);
  }

  async add(day: string, rows: UsageRow[], retentionDays: number): Promise<void> {
    if (rows.length === 0) return;
    const args: (string | number)[] = [(retentionDays + 1) * MS_PER_DAY];
    for (const r of rows) args.push(usageField(r), r.count, r.lastMs);
    await unavailableOnError(this.#add(this.keys.usageCounts(day), this.keys.usageLast(day), ...args));
  }

  /** One day at a time: read its fields, drop the agent's from both HASHes (an admin's delete, never a request's path). */
  async forget(agent: string, retentionDays: number, nowMs: number): Promise<void> {
    for (const day of retainedDays(retentionDays, nowMs)) {
      const fields = await unavailableOnError(this.redis.hkeys(this.keys.usageCounts(day)));
      const gone = fields.filter((f) => namesAgent(fromField(f, 0, 0), agent));
      if (gone.length) await unavailableOnError(Promise.all([this.redis.hdel(this.keys.usageCounts(day), ...gone), this.redis.hdel(this.keys.usageLast(day), ...gone)]));
    }
  }

  async read(days: string[]): Promise<UsageRow[]> {
    const out: UsageRow[] = [];
    for (const day of days) {
      const [counts, lasts] = await unavailableOnError(Promise.all([this.redis.hgetall(this.keys.usageCounts(day)), this.redis.hgetall(this.keys.usageLast(day))]));
      for (const [f, c] of Object.entries(counts)) out.push(fromField(f, Number(c), Number(lasts[f] ?? 0)));
    }
    return out;
  }
}
