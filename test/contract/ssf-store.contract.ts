import { describe, expect, it } from '@jest/globals';
import { NO_PUSH_FAILURE, SSF_POLL_WINDOW, type SsfPoll, type SsfStore } from '../../src/store/ssf.js';

export interface OpenedSsfStore {
  store: SsfStore;
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
const T0 = 1_800_000_000_000;
const AUD = 'https://api.example.com';
const set = (n: number) => ({ jti: `jti-${n}`, set: `set-${n}` });
const poll = (extra: Partial<SsfPoll> = {}): SsfPoll => ({ stream: 'default', ack: [], maxEvents: 10, nowMs: T0, retentionMs: DAY_MS, ...extra });
const jtis = (r: { sets: { jti: string }[] }) => r.sets.map((s) => s.jti);

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
      expect(await store.poll(AUD, poll())).toEqual({ sets: [], moreAvailable: false, resync: false });
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
      expect(await store.poll(AUD, poll({ maxEvents: 0, ack: ['jti-1', 'jti-2'] }))).toEqual({ sets: [], moreAvailable: true, resync: false });
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

    it('managed streams: added up to a maximum, listed, removed with their position', withStore(async (store) => {
      expect(await store.addStream(AUD, 's1', '{"a":1}', 2)).toBe(true);
      expect(await store.addStream(AUD, 's2', '{"a":2}', 2)).toBe(true);
      expect(await store.addStream(AUD, 's3', '{"a":3}', 2)).toBe(false);
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
