import { StoreUnavailableError } from '../../errors.js';
import type { RedisKeys } from '../keys.js';
import { NO_PUSH_FAILURE, SSF_POLL_WINDOW, type PushState, type PushTarget, type SsfPoll, type SsfPolled, type SsfStore } from '../ssf.js';
import type { RedisClient } from './connect.js';
import { SSF_ADD_STREAM, SSF_APPEND, SSF_LEASE, SSF_POLL, SSF_RELEASE } from './ssf-scripts.js';

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
  readonly #lease: Script;
  readonly #release: Script;
  readonly #addStream: Script;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {
    redis.defineCommand('stsSsfAppend', { lua: SSF_APPEND, numberOfKeys: 2 });
    redis.defineCommand('stsSsfPoll', { lua: SSF_POLL, numberOfKeys: 4 });
    const r = redis as unknown as Record<string, Script>;
    this.#append = r.stsSsfAppend!.bind(redis);
    this.#poll = r.stsSsfPoll!.bind(redis);
    redis.defineCommand('stsSsfLease', { lua: SSF_LEASE, numberOfKeys: 1 });
    this.#lease = r.stsSsfLease!.bind(redis);
    redis.defineCommand('stsSsfRelease', { lua: SSF_RELEASE, numberOfKeys: 1 });
    this.#release = r.stsSsfRelease!.bind(redis);
    redis.defineCommand('stsSsfAddStream', { lua: SSF_ADD_STREAM, numberOfKeys: 1 });
    this.#addStream = r.stsSsfAddStream!.bind(redis);
  }

  async setPush(aud: string, target: PushTarget | undefined): Promise<void> {
    const key = this.keys.ssfPush(aud);
    if (!target) {
      await guard(this.redis.del(key));
      await guard(this.redis.srem(this.keys.ssfPushAudiences(), aud));
      return;
    }
    const fields = { endpoint: target.endpoint, authorization: target.authorization ?? '', state: JSON.stringify(NO_PUSH_FAILURE) };
    await guard(this.redis.multi().del(key).hset(key, fields).exec());
    await guard(this.redis.sadd(this.keys.ssfPushAudiences(), aud));
  }

  async pushAudiences(): Promise<string[]> {
    return guard(this.redis.smembers(this.keys.ssfPushAudiences()));
  }

  async push(aud: string): Promise<{ target: PushTarget; state: PushState } | undefined> {
    const [endpoint, authorization, state] = await guard(this.redis.hmget(this.keys.ssfPush(aud), 'endpoint', 'authorization', 'state'));
    if (!endpoint) return undefined;
    return { target: { endpoint, ...(authorization ? { authorization } : {}) }, state: state ? (JSON.parse(state) as PushState) : { ...NO_PUSH_FAILURE } };
  }

  async savePushState(aud: string, state: PushState): Promise<void> {
    // Only while the target exists; in the rare race with a removal a lone `state` field is left, which push() reads as no target.
    const key = this.keys.ssfPush(aud);
    if (await guard(this.redis.exists(key))) await guard(this.redis.hset(key, 'state', JSON.stringify(state)));
  }

  async lease(aud: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await guard(this.#lease(this.keys.ssfPushLease(aud), holder, ttlMs))) === 1;
  }

  async addStream(aud: string, id: string, config: string, max: number): Promise<boolean> {
    return (await guard(this.#addStream(this.keys.ssfStreamConfigs(aud), id, config, max))) === 1;
  }

  async streams(aud: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await guard(this.redis.hgetall(this.keys.ssfStreamConfigs(aud)))));
  }

  async removeStream(aud: string, id: string): Promise<boolean> {
    const [[, removed]] = (await guard(this.redis.multi()
      .hdel(this.keys.ssfStreamConfigs(aud), id)
      .del(this.keys.ssfCursor(aud, id), this.keys.ssfAcked(aud, id))
      .exec())) as [[unknown, number]];
    return removed === 1;
  }

  async release(aud: string, holder: string): Promise<void> {
    await guard(this.#release(this.keys.ssfPushLease(aud), holder));
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
