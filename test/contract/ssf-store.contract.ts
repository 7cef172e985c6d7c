import { describe, expect, it } from '@jest/globals';
import { NO_PUSH_FAILURE, PUSH_STREAM, SSF_POLL_WINDOW, type SsfPoll, type SsfStore, type StreamQuota } from '../../src/store/ssf.js';

export interface OpenedSsfStore {
  store: SsfStore;
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
const T0 = 1_800_000_000_000;
const AUD = 'https://api.example.com';
const set = (n: number) => ({ jti: `jti-${n}`, set: `set-${n}` });
const poll = (extra: Partial<SsfPoll> = {}): SsfPoll => ({ stream: 'default', ack: [], maxEvents: 10, nowMs: T0, retentionMs: DAY_MS, ...extra });
const jtis = (r: { sets: { jti: string }[] } | undefined) => r?.sets.map((s) => s.jti);
const MINUTE_MS = 60_000;
const QUOTA: StreamQuota = { max: 3, idleMs: 10 * MINUTE_MS };

/** What every SsfStore (memory and Redis) must do: order, acks, redelivery, per-audience isolation, retention. */
export function ssfStoreContract(name: string, open: () => Promise<OpenedSsfStore>): void {
  describe(`SsfStore contract: ${name}`, () => {
    const withStore = (fn: (store: SsfStore) => Promise<void>) => async () => {
      const o = await open();
      try {
        await fn(o.store);
      } finally {
        await o.close();
      }
    };

    it('an empty stream polls empty, no resync', withStore(async (store) => {
      expect(await store.poll(AUD, poll())).toEqual({ sets: [], moreAvailable: false, resync: false, head: '0-0' });
    }));

    it('returns SETs in order with their jti; unacknowledged ones come again, acknowledged ones never', withStore(async (store) => {
      await store.append(AUD, [set(1), set(2)], T0, DAY_MS);
      await store.append(AUD, [set(3)], T0, DAY_MS);
      const first = await store.poll(AUD, poll());
      expect(first.sets.map((s) => [s.jti, s.set])).toEqual([['jti-1', 'set-1'], ['jti-2', 'set-2'], ['jti-3', 'set-3']]);
      expect(jtis(await store.poll(AUD, poll()))).toEqual(['jti-1', 'jti-2', 'jti-3']);
      expect(jtis(await store.poll(AUD, poll({ ack: ['jti-1', 'jti-2'] })))).toEqual(['jti-3']);
      expect(jtis(await store.poll(AUD, poll({ ack: ['jti-3'] })))).toEqual([]);
      await store.append(AUD, [set(4)], T0 + 1, DAY_MS);
      expect(jtis(await store.poll(AUD, poll()))).toEqual(['jti-4']);
    }));

    it('an acknowledgement out of order holds: only the unacknowledged one comes again', withStore(async (store) => {
      await store.append(AUD, [set(1), set(2), set(3)], T0, DAY_MS);
      await store.poll(AUD, poll());
      expect(jtis(await store.poll(AUD, poll({ ack: ['jti-2'] })))).toEqual(['jti-1', 'jti-3']);
      expect(jtis(await store.poll(AUD, poll({ ack: ['jti-1'] })))).toEqual(['jti-3']);
      expect(jtis(await store.poll(AUD, poll({ ack: ['jti-3'] })))).toEqual([]);
    }));

    it('maxEvents bounds a poll and says more are available; 0 only acknowledges', withStore(async (store) => {
      await store.append(AUD, [set(1), set(2), set(3)], T0, DAY_MS);
      const r = await store.poll(AUD, poll({ maxEvents: 2 }));
      expect([jtis(r), r.moreAvailable]).toEqual([['jti-1', 'jti-2'], true]);
      expect(await store.poll(AUD, poll({ maxEvents: 0, ack: ['jti-1', 'jti-2'] }))).toEqual({ sets: [], moreAvailable: true, resync: false, head: `${T0}-2` });
      const rest = await store.poll(AUD, poll({ maxEvents: 2 }));
      expect([jtis(rest), rest.moreAvailable]).toEqual([['jti-3'], false]);
    }));

    it('each audience and each subscriber stream is apart', withStore(async (store) => {
      await store.append(AUD, [set(1)], T0, DAY_MS);
      await store.append('https://other.example.com', [set(2)], T0, DAY_MS);
      expect(jtis(await store.poll(AUD, poll({ ack: ['jti-2'] })))).toEqual(['jti-1']);
      expect(jtis(await store.poll('https://other.example.com', poll()))).toEqual(['jti-2']);
      await store.poll(AUD, poll({ ack: ['jti-1'] }));
      expect(jtis(await store.poll(AUD, poll({ stream: 'replica-2' })))).toEqual(['jti-1']);
    }));

    it('entries older than the retention window are trimmed; a subscriber that had not acknowledged them is told to resync, once', withStore(async (store) => {
      await store.append(AUD, [set(1), set(2)], T0, DAY_MS);
      await store.poll(AUD, poll({ maxEvents: 1 }));
      await store.poll(AUD, poll({ ack: ['jti-1'] }));
      await store.append(AUD, [set(3)], T0 + DAY_MS + 10, DAY_MS);
      const late = await store.poll(AUD, poll({ nowMs: T0 + DAY_MS + 20 }));
      expect([jtis(late), late.resync]).toEqual([['jti-3'], true]);
      expect((await store.poll(AUD, poll({ nowMs: T0 + DAY_MS + 30 }))).resync).toBe(false);
    }));

    it('a subscriber that acknowledged everything before the trim is not told to resync', withStore(async (store) => {
      await store.append(AUD, [set(1)], T0, DAY_MS);
      await store.poll(AUD, poll());
      await store.poll(AUD, poll({ ack: ['jti-1'] }));
      await store.append(AUD, [set(2)], T0 + DAY_MS + 10, DAY_MS);
      const r = await store.poll(AUD, poll({ nowMs: T0 + DAY_MS + 20 }));
      expect([jtis(r), r.resync]).toEqual([['jti-2'], false]);
    }));

    it('a new subscriber starts at the oldest SET kept and is not told to resync', withStore(async (store) => {
      await store.append(AUD, [set(1)], T0, DAY_MS);
      await store.append(AUD, [set(2)], T0 + DAY_MS + 10, DAY_MS);
      const r = await store.poll(AUD, poll({ stream: 'newcomer', nowMs: T0 + DAY_MS + 20 }));
      expect([jtis(r), r.resync]).toEqual([['jti-2'], false]);
    }));

    it('push targets: registered with a fresh state, listed, state saved, replaced fresh, removed; state for a removed target is not saved', withStore(async (store) => {
      expect(await store.push(AUD)).toBeUndefined();
      await store.setPush(AUD, { endpoint: 'https://rs.example.com/events', authorization: 'Bearer x' });
      await store.setPush('https://other.example.com', { endpoint: 'https://other.example.com/events' });
      expect((await store.pushAudiences()).sort()).toEqual([AUD, 'https://other.example.com']);
      expect(await store.push(AUD)).toEqual({ target: { endpoint: 'https://rs.example.com/events', authorization: 'Bearer x' }, state: NO_PUSH_FAILURE });
      const failing = { attempts: 3, nextAtMs: T0 + 5, failingSinceMs: T0, lastError: 'HTTP 500', reported: false };
      await store.savePushState(AUD, failing);
      expect((await store.push(AUD))?.state).toEqual(failing);
      await store.setPush(AUD, { endpoint: 'https://rs.example.com/v2' });
      expect(await store.push(AUD)).toEqual({ target: { endpoint: 'https://rs.example.com/v2' }, state: NO_PUSH_FAILURE });
      await store.setPush(AUD, undefined);
      await store.savePushState(AUD, failing);
      expect(await store.push(AUD)).toBeUndefined();
      expect(await store.pushAudiences()).toEqual(['https://other.example.com']);
    }));

    it('the push lease: one holder at a time, extended by its holder, free once released', withStore(async (store) => {
      expect(await store.lease(AUD, 'a', 60_000, T0)).toBe(true);
      expect(await store.lease(AUD, 'b', 60_000, T0)).toBe(false);
      expect(await store.lease(AUD, 'a', 60_000, T0)).toBe(true);
      await store.release(AUD, 'b');
      expect(await store.lease(AUD, 'b', 60_000, T0)).toBe(false);
      await store.release(AUD, 'a');
      expect(await store.lease(AUD, 'b', 60_000, T0)).toBe(true);
    }));

    it('managed streams: added up to the quota, listed, removed with their position', withStore(async (store) => {
      expect(await store.addStream(AUD, 's1', '{"a":1}', { max: 2, idleMs: MINUTE_MS }, T0)).toBe(true);
      expect(await store.addStream(AUD, 's2', '{"a":2}', { max: 2, idleMs: MINUTE_MS }, T0)).toBe(true);
      expect(await store.addStream(AUD, 's3', '{"a":3}', { max: 2, idleMs: MINUTE_MS }, T0)).toBe(false);
      expect(await store.streams(AUD)).toEqual(new Map([['s1', '{"a":1}'], ['s2', '{"a":2}']]));
      expect(await store.streams('https://other.example.com')).toEqual(new Map());
      await store.append(AUD, [set(1)], T0, DAY_MS);
      await store.poll(AUD, poll({ stream: 's1' }));
      await store.poll(AUD, poll({ stream: 's1', ack: ['jti-1'] }));
      expect(await store.removeStream(AUD, 's1')).toBe(true);
      expect(await store.removeStream(AUD, 's1')).toBe(false);
      expect([...(await store.streams(AUD)).keys()]).toEqual(['s2']);
      // a stream of that id made again starts over: its old position went with it
      expect(jtis(await store.poll(AUD, poll({ stream: 's1' })))).toEqual(['jti-1']);
    }));

    it('a refused removal changes nothing: push delivery\'s position and a polled name keep what they acknowledged', withStore(async (store) => {
      await store.append(AUD, [set(1), set(2)], T0, DAY_MS);
      await store.poll(AUD, poll({ stream: PUSH_STREAM, ack: ['jti-1'] }));
      await store.poll(AUD, poll({ stream: 'replica', ack: ['jti-2'] }));
      expect(await store.removeStream(AUD, PUSH_STREAM)).toBe(false);
      expect(await store.removeStream(AUD, 'replica')).toBe(false);
      expect(await store.removeStream(AUD, 'unknown')).toBe(false);
      expect(jtis(await store.poll(AUD, poll({ stream: PUSH_STREAM })))).toEqual(['jti-2']);
      expect(jtis(await store.poll(AUD, poll({ stream: 'replica' })))).toEqual(['jti-1']);
    }));

    it('polled stream names take places in the quota with the managed streams; past it a new name is refused', withStore(async (store) => {
      await store.append(AUD, [set(1)], T0, DAY_MS);
      expect(await store.addStream(AUD, 'm1', '{}', QUOTA, T0)).toBe(true);
      const q = (stream: string, extra: Partial<SsfPoll> = {}) => store.poll(AUD, { ...poll({ stream, ...extra }), quota: QUOTA });
      expect(jtis(await q('a'))).toEqual(['jti-1']);
      expect(jtis(await q('b', { ack: ['jti-1'] }))).toEqual([]);
      // full: a third name is refused; names already placed, and the managed stream, still poll
      expect(await q('c', { ack: ['jti-1'] })).toBeUndefined();
      expect(jtis(await q('a'))).toEqual(['jti-1']);
      expect(jtis(await q('m1'))).toEqual(['jti-1']);
      expect(await store.addStream(AUD, 'm2', '{}', QUOTA, T0)).toBe(false);
      // another audience has its own quota; agent-sts's own positions (no quota) take no place
      expect(jtis(await store.poll('https://other.example.com', { ...poll({ stream: 'c' }), quota: QUOTA }))).toEqual([]);
      expect(jtis(await store.poll(AUD, poll({ stream: PUSH_STREAM })))).toEqual(['jti-1']);
      expect(await q('c')).toBeUndefined();
    }));

    it('a polled name idle for the quota\'s idleMs gives its place up (the least recently polled first), and its position goes with it', withStore(async (store) => {
      await store.append(AUD, [set(1)], T0, DAY_MS);
      const q = (stream: string, nowMs: number, ack: string[] = []) => store.poll(AUD, { ...poll({ stream, nowMs, ack }), quota: QUOTA });
      await q('a', T0, ['jti-1']);
      await q('b', T0 + MINUTE_MS, ['jti-1']);
      await q('c', T0 + 2 * MINUTE_MS, ['jti-1']);
      // 'a' idle 9 minutes: not yet
      expect(await q('d', T0 + 9 * MINUTE_MS)).toBeUndefined();
      // 'a' idle 10 minutes: it goes; 'b' (idle 9) stays, so 'e' waits
      expect(jtis(await q('d', T0 + 10 * MINUTE_MS))).toEqual(['jti-1']);
      expect(await q('e', T0 + 10 * MINUTE_MS)).toBeUndefined();
      // a managed stream takes an idle name's place too
      expect(await store.addStream(AUD, 'm1', '{}', QUOTA, T0 + 11 * MINUTE_MS)).toBe(true);
      expect(await q('b', T0 + 11 * MINUTE_MS)).toBeUndefined();
      // 'a' comes back once 'c' has been idle 10 minutes: its acknowledgement went with its place, so it starts again at the oldest SET kept
      expect(jtis(await q('a', T0 + 12 * MINUTE_MS))).toEqual(['jti-1']);
      expect(await q('c', T0 + 12 * MINUTE_MS)).toBeUndefined();
    }));

    it('verification: appended to a managed stream at most once per interval; too soon says how long to wait and appends nothing', withStore(async (store) => {
      const v = (n: number, nowMs: number) => store.verify(AUD, 'm1', set(n), nowMs, DAY_MS, MINUTE_MS);
      expect(await v(1, T0)).toEqual({ status: 'no-stream' });
      await store.addStream(AUD, 'm1', '{}', QUOTA, T0);
      expect(await v(1, T0)).toEqual({ status: 'appended' });
      expect(await v(2, T0 + 20_000)).toEqual({ status: 'too-soon', retryAfterMs: 40_000 });
      expect(await v(3, T0 + MINUTE_MS)).toEqual({ status: 'appended' });
      expect(jtis(await store.poll(AUD, poll({ stream: 'm1', nowMs: T0 + MINUTE_MS })))).toEqual(['jti-1', 'jti-3']);
      await store.removeStream(AUD, 'm1');
      expect(await v(4, T0 + MINUTE_MS)).toEqual({ status: 'no-stream' });
      // made again, it starts with no verification behind it
      await store.addStream(AUD, 'm1', '{}', QUOTA, T0 + MINUTE_MS);
      expect(await v(5, T0 + MINUTE_MS + 1)).toEqual({ status: 'appended' });
    }));

    it('head: the newest entry id, the same a poll reports; 0-0 when empty', withStore(async (store) => {
      expect(await store.head(AUD)).toBe('0-0');
      await store.append(AUD, [set(1), set(2)], T0, DAY_MS);
      expect(await store.head(AUD)).toBe(`${T0}-1`);
      expect((await store.poll(AUD, poll({ maxEvents: 1 }))).head).toBe(`${T0}-1`);
      expect(await store.head('https://other.example.com')).toBe('0-0');
    }));

    it('subscribe: every append and verification names its audience to the subscriber', withStore(async (store) => {
      const heard: string[] = [];
      let next: (() => void) | undefined;
      const unsubscribe = await store.subscribe((aud) => {
        heard.push(aud);
        next?.();
      });
      const hear = (n: number) => new Promise<void>((resolve) => {
        next = () => heard.length >= n && resolve();
        next();
      });
      await store.append(AUD, [set(1)], T0, DAY_MS);
      await hear(1);
      await store.addStream('https://other.example.com', 'm1', '{}', QUOTA, T0);
      await store.verify('https://other.example.com', 'm1', set(2), T0, DAY_MS, MINUTE_MS);
      await hear(2);
      expect(heard).toEqual([AUD, 'https://other.example.com']);
      await unsubscribe();
    }));

    it('ids follow the service clock and never go back, even when the clock does', withStore(async (store) => {
      await store.append(AUD, [set(1)], T0 + 5, DAY_MS);
      await store.append(AUD, [set(2)], T0, DAY_MS);
      const ids = (await store.poll(AUD, poll())).sets.map((s) => s.id);
      expect(ids).toEqual([`${T0 + 5}-0`, `${T0 + 5}-1`]);
    }));

    it(`a poll reads at most ${SSF_POLL_WINDOW} entries past the position and says more are available`, withStore(async (store) => {
      const many = Array.from({ length: SSF_POLL_WINDOW + 5 }, (_, i) => set(i));
      await store.append(AUD, many, T0, DAY_MS);
      const acked = many.slice(0, SSF_POLL_WINDOW).map((s) => s.jti);
      const r = await store.poll(AUD, poll({ ack: acked }));
      expect([jtis(r), r.moreAvailable]).toEqual([[], true]);
      expect(jtis(await store.poll(AUD, poll()))).toEqual(many.slice(SSF_POLL_WINDOW).map((s) => s.jti));
    }));
  });
}
