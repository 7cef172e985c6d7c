import type { RedisKeys } from '../keys.js';
import {
  NO_PUSH_FAILURE, SSF_POLL_WINDOW, type PushState, type PushTarget, type SsfPoll, type SsfPolled, type SsfStore, type StreamQuota, type VerifyOutcome,
} from '../ssf.js';
import type { RedisClient } from './connect.js';
import { SSF_ADD_STREAM, SSF_APPEND, SSF_LEASE, SSF_POLL, SSF_RELEASE, SSF_REMOVE_STREAM, SSF_VERIFY } from './ssf-scripts.js';
import { unavailableOnError } from './unavailable.js';

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * A subscriber's position outlives its last poll by this many retention windows: one away longer
 * than that starts over (and is told to resync, since entries were trimmed meanwhile).
 */
const STATE_TTL_RETENTIONS = 2;

/** SSF streams as Redis Streams: one per audience, trimmed by the service clock's retention window. */
export class RedisSsfStore implements SsfStore {
  readonly #append: Script;
  readonly #poll: Script;
  readonly #lease: Script;
  readonly #release: Script;
  readonly #addStream: Script;
  readonly #removeStream: Script;
  readonly #verify: Script;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {
    redis.defineCommand('stsSsfAppend', { lua: SSF_APPEND, numberOfKeys: 2 });
    redis.defineCommand('stsSsfPoll', { lua: SSF_POLL, numberOfKeys: 6 });
    const r = redis as unknown as Record<string, Script>;
    this.#append = r.stsSsfAppend!.bind(redis);
    this.#poll = r.stsSsfPoll!.bind(redis);
    redis.defineCommand('stsSsfLease', { lua: SSF_LEASE, numberOfKeys: 1 });
    this.#lease = r.stsSsfLease!.bind(redis);
    redis.defineCommand('stsSsfRelease', { lua: SSF_RELEASE, numberOfKeys: 1 });
    this.#release = r.stsSsfRelease!.bind(redis);
    redis.defineCommand('stsSsfAddStream', { lua: SSF_ADD_STREAM, numberOfKeys: 2 });
    this.#addStream = r.stsSsfAddStream!.bind(redis);
    redis.defineCommand('stsSsfRemoveStream', { lua: SSF_REMOVE_STREAM, numberOfKeys: 4 });
    this.#removeStream = r.stsSsfRemoveStream!.bind(redis);
    redis.defineCommand('stsSsfVerify', { lua: SSF_VERIFY, numberOfKeys: 4 });
    this.#verify = r.stsSsfVerify!.bind(redis);
  }

  /** The prefixes the scripts append a stream name to, for the state of a position they drop. */
  #statePrefixes(aud: string): [string, string] {
    return [this.keys.ssfCursor(aud, ''), this.keys.ssfAcked(aud, '')];
  }

  async setPush(aud: string, target: PushTarget | undefined): Promise<void> {
    const key = this.keys.ssfPush(aud);
    if (!target) {
      await unavailableOnError(this.redis.del(key));
      await unavailableOnError(this.redis.srem(this.keys.ssfPushAudiences(), aud));
      return;
    }
    const fields = { endpoint: target.endpoint, authorization: target.authorization ?? '', state: JSON.stringify(NO_PUSH_FAILURE) };
    await unavailableOnError(this.redis.multi().del(key).hset(key, fields).exec());
    await unavailableOnError(this.redis.sadd(this.keys.ssfPushAudiences(), aud));
  }

  async pushAudiences(): Promise<string[]> {
    return unavailableOnError(this.redis.smembers(this.keys.ssfPushAudiences()));
  }

  async push(aud: string): Promise<{ target: PushTarget; state: PushState } | undefined> {
    const [endpoint, authorization, state] = await unavailableOnError(this.redis.hmget(this.keys.ssfPush(aud), 'endpoint', 'authorization', 'state'));
    if (!endpoint) return undefined;
    return { target: { endpoint, ...(authorization ? { authorization } : {}) }, state: state ? (JSON.parse(state) as PushState) : { ...NO_PUSH_FAILURE } };
  }

  async savePushState(aud: string, state: PushState): Promise<void> {
    // Only while the target exists; in the rare race with a removal a lone `state` field is left, which push() reads as no target.
    const key = this.keys.ssfPush(aud);
    if (await unavailableOnError(this.redis.exists(key))) await unavailableOnError(this.redis.hset(key, 'state', JSON.stringify(state)));
  }

  async lease(aud: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await unavailableOnError(this.#lease(this.keys.ssfPushLease(aud), holder, ttlMs))) === 1;
  }

  async addStream(aud: string, id: string, config: string, quota: StreamQuota, nowMs: number): Promise<boolean> {
    const added = this.#addStream(this.keys.ssfStreamConfigs(aud), this.keys.ssfPositions(aud), id, config, quota.max, quota.idleMs, nowMs, ...this.#statePrefixes(aud));
    return (await unavailableOnError(added)) === 1;
  }

  async streams(aud: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await unavailableOnError(this.redis.hgetall(this.keys.ssfStreamConfigs(aud)))));
  }

  async removeStream(aud: string, id: string): Promise<boolean> {
    const k = this.keys;
    return (await unavailableOnError(this.#removeStream(k.ssfStreamConfigs(aud), k.ssfCursor(aud, id), k.ssfAcked(aud, id), k.ssfVerified(aud, id), id))) === 1;
  }

  async release(aud: string, holder: string): Promise<void> {
    await unavailableOnError(this.#release(this.keys.ssfPushLease(aud), holder));
  }

  async append(aud: string, sets: { jti: string; set: string }[], nowMs: number, retentionMs: number): Promise<void> {
    if (sets.length === 0) return;
    const k = this.keys;
    await unavailableOnError(this.#append(k.ssfStream(aud), k.ssfTrimmed(aud), nowMs, nowMs - retentionMs, k.ssfAppended(), aud, ...sets.flatMap((s) => [s.jti, s.set])));
  }

  async verify(aud: string, stream: string, v: { jti: string; set: string }, nowMs: number, retentionMs: number, intervalMs: number): Promise<VerifyOutcome> {
    const k = this.keys;
    const out = Number(await unavailableOnError(this.#verify(
      k.ssfStream(aud), k.ssfTrimmed(aud), k.ssfStreamConfigs(aud), k.ssfVerified(aud, stream),
      nowMs, nowMs - retentionMs, k.ssfAppended(), aud, stream, intervalMs, v.jti, v.set,
    )));
    if (out < 0) return { status: 'no-stream' };
    return out === 0 ? { status: 'appended' } : { status: 'too-soon', retryAfterMs: out };
  }

  poll(aud: string, p: SsfPoll & { quota: StreamQuota }): Promise<SsfPolled | undefined>;
  poll(aud: string, p: SsfPoll): Promise<SsfPolled>;
  async poll(aud: string, p: SsfPoll & { quota?: StreamQuota }): Promise<SsfPolled | undefined> {
    const k = this.keys;
    const out = (await unavailableOnError(this.#poll(
      k.ssfStream(aud), k.ssfTrimmed(aud), k.ssfCursor(aud, p.stream), k.ssfAcked(aud, p.stream), k.ssfStreamConfigs(aud), k.ssfPositions(aud),
      p.nowMs, p.nowMs - p.retentionMs, p.maxEvents, SSF_POLL_WINDOW, p.retentionMs * STATE_TTL_RETENTIONS,
      p.stream, p.quota?.max ?? 0, p.quota?.idleMs ?? 0, ...this.#statePrefixes(aud), ...p.ack,
    ))) as (string | number)[];
    if (out[0] === 'full') return undefined;
    const sets = [];
    for (let i = 3; i + 2 < out.length; i += 3) sets.push({ id: String(out[i]), jti: String(out[i + 1]), set: String(out[i + 2]) });
    return { resync: out[0] === 1, moreAvailable: out[1] === 1, head: String(out[2]), sets };
  }

  async head(aud: string): Promise<string> {
    const [newest] = await unavailableOnError(this.redis.xrevrange(this.keys.ssfStream(aud), '+', '-', 'COUNT', 1));
    return newest?.[0] ?? '0-0';
  }

  /** A dedicated connection (a subscribed one can send nothing else); ioredis resubscribes after a reconnect. */
  async subscribe(onAppend: (aud: string) => void): Promise<() => Promise<void>> {
    const sub = (this.redis.duplicate as () => RedisClient).call(this.redis);
    sub.on('error', () => {}); // reconnects on its own; a message missed meanwhile is caught by the waiters' recheck
    const channel = this.keys.ssfAppended();
    sub.on('message', (from: string, aud: string) => {
      if (from === channel) onAppend(aud);
    });
    try {
      await unavailableOnError(sub.connect());
      await unavailableOnError(sub.subscribe(channel));
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    return async () => {
      sub.disconnect();
    };
  }
}
