import { StoreUnavailableError } from '../../errors.js';
import type { RedisKeys } from '../keys.js';
import { SSF_POLL_WINDOW, type SsfPoll, type SsfPolled, type SsfStore } from '../ssf.js';
import type { RedisClient } from './connect.js';
import { SSF_APPEND, SSF_POLL } from './ssf-scripts.js';

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * A subscriber's position outlives its last poll by this many retention windows: one away longer
 * than that starts over (and is told to resync, since entries were trimmed meanwhile).
 */
const STATE_TTL_RETENTIONS = 2;

async function guard<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    throw new StoreUnavailableError(err);
  }
}

/** SSF streams as Redis Streams: one per audience, trimmed by the service clock's retention window. */
export class RedisSsfStore implements SsfStore {
  readonly #append: Script;
  readonly #poll: Script;

  constructor(redis: RedisClient, private readonly keys: RedisKeys) {
    redis.defineCommand('stsSsfAppend', { lua: SSF_APPEND, numberOfKeys: 2 });
    redis.defineCommand('stsSsfPoll', { lua: SSF_POLL, numberOfKeys: 4 });
    const r = redis as unknown as Record<string, Script>;
    this.#append = r.stsSsfAppend!.bind(redis);
    this.#poll = r.stsSsfPoll!.bind(redis);
  }

  async append(aud: string, sets: { jti: string; set: string }[], nowMs: number, retentionMs: number): Promise<void> {
    if (sets.length === 0) return;
    await guard(this.#append(this.keys.ssfStream(aud), this.keys.ssfTrimmed(aud), nowMs, nowMs - retentionMs, ...sets.flatMap((s) => [s.jti, s.set])));
  }

  async poll(aud: string, p: SsfPoll): Promise<SsfPolled> {
    const out = (await guard(this.#poll(
      this.keys.ssfStream(aud), this.keys.ssfTrimmed(aud), this.keys.ssfCursor(aud, p.stream), this.keys.ssfAcked(aud, p.stream),
      p.nowMs, p.nowMs - p.retentionMs, p.maxEvents, SSF_POLL_WINDOW, p.retentionMs * STATE_TTL_RETENTIONS, ...p.ack,
    ))) as (string | number)[];
    const sets = [];
    for (let i = 2; i + 2 < out.length; i += 3) sets.push({ id: String(out[i]), jti: String(out[i + 1]), set: String(out[i + 2]) });
    return { resync: out[0] === 1, moreAvailable: out[1] === 1, sets };
  }
}
