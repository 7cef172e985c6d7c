import {
  NO_PUSH_FAILURE, SSF_POLL_WINDOW, type PushState, type PushTarget, type SsfEntry, type SsfPoll, type SsfPolled, type SsfStore, type StreamQuota,
  type VerifyOutcome,
} from '../ssf.js';

interface Stream {
  entries: SsfEntry[];
  lastMs: number;
  lastSeq: number;
  /** The newest id retention trimmed ('0-0': none). */
  maxDeleted: string;
  subscribers: Map<string, { cursor: string; acked: Set<string> }>;
  /** Polled stream names → last poll (ms), counted against the quota. */
  positions: Map<string, number>;
  /** Managed stream id → when its last verification SET was appended (ms). */
  verified: Map<string, number>;
}

const parse = (id: string) => id.split('-').map(Number) as [number, number];
/** Stream ids in order: a before b. */
export function olderId(a: string, b: string): boolean {
  const [am, as] = parse(a);
  const [bm, bs] = parse(b);
  return am < bm || (am === bm && as < bs);
}

/** The embedded SSF streams: one process, nothing kept on exit. Same contract as the Redis twin. */
export class MemorySsfStore implements SsfStore {
  readonly #streams = new Map<string, Stream>();
  readonly #pushes = new Map<string, { target: PushTarget; state: PushState }>();
  readonly #leases = new Map<string, { holder: string; untilMs: number }>();
  readonly #listeners = new Set<(aud: string) => void>();

  async setPush(aud: string, target: PushTarget | undefined): Promise<void> {
    if (target) this.#pushes.set(aud, { target: { ...target }, state: { ...NO_PUSH_FAILURE } });
    else this.#pushes.delete(aud);
  }

  async pushAudiences(): Promise<string[]> {
    return [...this.#pushes.keys()];
  }

  async push(aud: string): Promise<{ target: PushTarget; state: PushState } | undefined> {
    const p = this.#pushes.get(aud);
    return p && { target: { ...p.target }, state: { ...p.state } };
  }

  async savePushState(aud: string, state: PushState): Promise<void> {
    const p = this.#pushes.get(aud);
    if (p) p.state = { ...state };
  }

  async lease(aud: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
    const l = this.#leases.get(aud);
    if (l && l.holder !== holder && l.untilMs > nowMs) return false;
    this.#leases.set(aud, { holder, untilMs: nowMs + ttlMs });
    return true;
  }

  readonly #configs = new Map<string, Map<string, string>>();

  #configsOf(aud: string): Map<string, string> {
    let m = this.#configs.get(aud);
    if (!m) this.#configs.set(aud, (m = new Map()));
    return m;
  }

  /** Room for one more position (the Redis twin's `room`): the least recently polled name, if idle, gives its place up. */
  #room(aud: string, quota: StreamQuota, nowMs: number): boolean {
    const s = this.#stream(aud);
    while (this.#configsOf(aud).size + s.positions.size >= quota.max) {
      let oldest: [string, number] | undefined;
      for (const p of s.positions) if (!oldest || p[1] < oldest[1]) oldest = p;
      if (!oldest || oldest[1] > nowMs - quota.idleMs) return false;
      s.positions.delete(oldest[0]);
      s.subscribers.delete(oldest[0]);
    }
    return true;
  }

  async addStream(aud: string, id: string, config: string, quota: StreamQuota, nowMs: number): Promise<boolean> {
    if (!this.#room(aud, quota, nowMs)) return false;
    this.#configsOf(aud).set(id, config);
    return true;
  }

  async streams(aud: string): Promise<Map<string, string>> {
    return new Map(this.#configs.get(aud));
  }

  async removeStream(aud: string, id: string): Promise<boolean> {
    if (!this.#configs.get(aud)?.delete(id)) return false;
    this.#streams.get(aud)?.subscribers.delete(id);
    this.#streams.get(aud)?.verified.delete(id);
    return true;
  }

  async release(aud: string, holder: string): Promise<void> {
    if (this.#leases.get(aud)?.holder === holder) this.#leases.delete(aud);
  }

  #stream(aud: string): Stream {
    let s = this.#streams.get(aud);
    if (!s) this.#streams.set(aud, (s = { entries: [], lastMs: 0, lastSeq: -1, maxDeleted: '0-0', subscribers: new Map(), positions: new Map(), verified: new Map() }));
    return s;
  }

  #trim(s: Stream, nowMs: number, retentionMs: number): void {
    const minMs = nowMs - retentionMs;
    let n = 0;
    while (n < s.entries.length && parse(s.entries[n]!.id)[0] < minMs) n++;
    if (n > 0) s.maxDeleted = s.entries[n - 1]!.id;
    s.entries.splice(0, n);
  }

  async append(aud: string, sets: { jti: string; set: string }[], nowMs: number, retentionMs: number): Promise<void> {
    const s = this.#stream(aud);
    for (const { jti, set } of sets) {
      const ms = Math.max(nowMs, s.lastMs);
      s.lastSeq = ms === s.lastMs ? s.lastSeq + 1 : 0;
      s.lastMs = ms;
      s.entries.push({ id: `${ms}-${s.lastSeq}`, jti, set });
    }
    this.#trim(s, nowMs, retentionMs);
    for (const onAppend of this.#listeners) onAppend(aud);
  }

  async verify(aud: string, stream: string, v: { jti: string; set: string }, nowMs: number, retentionMs: number, intervalMs: number): Promise<VerifyOutcome> {
    if (!this.#configs.get(aud)?.has(stream)) return { status: 'no-stream' };
    const s = this.#stream(aud);
    const last = s.verified.get(stream);
    if (last !== undefined && last + intervalMs - nowMs > 0) return { status: 'too-soon', retryAfterMs: last + intervalMs - nowMs };
    await this.append(aud, [v], nowMs, retentionMs);
    s.verified.set(stream, nowMs);
    return { status: 'appended' };
  }

  poll(aud: string, p: SsfPoll & { quota: StreamQuota }): Promise<SsfPolled | undefined>;
  poll(aud: string, p: SsfPoll): Promise<SsfPolled>;
  async poll(aud: string, p: SsfPoll & { quota?: StreamQuota }): Promise<SsfPolled | undefined> {
    const s = this.#stream(aud);
    if (p.quota && !this.#configs.get(aud)?.has(p.stream)) {
      if (!s.positions.has(p.stream) && !this.#room(aud, p.quota, p.nowMs)) return undefined;
      s.positions.set(p.stream, p.nowMs);
    }
    this.#trim(s, p.nowMs, p.retentionMs);
    let sub = s.subscribers.get(p.stream);
    // a new subscriber starts at the oldest SET still kept: it had nothing to lose
    if (!sub) s.subscribers.set(p.stream, (sub = { cursor: s.maxDeleted, acked: new Set() }));
    let resync = false;
    if (olderId(sub.cursor, s.maxDeleted)) {
      resync = true;
      sub.cursor = s.maxDeleted;
      sub.acked.clear();
    }
    const acks = new Set(p.ack);
    const window = s.entries.filter((e) => olderId(sub.cursor, e.id)).slice(0, SSF_POLL_WINDOW);
    const sets: SsfEntry[] = [];
    let advancing = true;
    let moreAvailable = window.length === SSF_POLL_WINDOW;
    for (const e of window) {
      if (acks.has(e.jti) || sub.acked.has(e.jti)) {
        if (advancing) {
          sub.cursor = e.id;
          sub.acked.delete(e.jti);
        } else sub.acked.add(e.jti);
      } else {
        advancing = false;
        if (sets.length < p.maxEvents) sets.push({ ...e });
        else moreAvailable = true;
      }
    }
    return { sets, moreAvailable, resync, head: this.#head(s) };
  }

  #head(s: Stream): string {
    return s.entries.at(-1)?.id ?? '0-0';
  }

  async head(aud: string): Promise<string> {
    return this.#head(this.#stream(aud));
  }

  /** In process: the one instance is every instance. */
  async subscribe(onAppend: (aud: string) => void): Promise<() => Promise<void>> {
    const listener = (aud: string) => onAppend(aud);
    this.#listeners.add(listener);
    return async () => {
      this.#listeners.delete(listener);
    };
  }
}
