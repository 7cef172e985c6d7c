import { SSF_POLL_WINDOW, type SsfEntry, type SsfPoll, type SsfPolled, type SsfStore } from '../ssf.js';

interface Stream {
  entries: SsfEntry[];
  lastMs: number;
  lastSeq: number;
  /** The newest id retention trimmed ('0-0': none). */
  maxDeleted: string;
  subscribers: Map<string, { cursor: string; acked: Set<string> }>;
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

  #stream(aud: string): Stream {
    let s = this.#streams.get(aud);
    if (!s) this.#streams.set(aud, (s = { entries: [], lastMs: 0, lastSeq: -1, maxDeleted: '0-0', subscribers: new Map() }));
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
  }

  async poll(aud: string, p: SsfPoll): Promise<SsfPolled> {
    const s = this.#stream(aud);
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
    return { sets, moreAvailable, resync };
  }
}
