import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Wakeups, type Waiter } from '../../src/push/wakeups.js';

/** Long-poll wake-ups: places per audience, wake-ups by notify and by the safety recheck (called by hand here). */

const API = 'https://api.example.com';
const OTHER = 'https://other.example.com';
const FOREVER_MS = 3_600_000;

/** Whether `next()` resolved, and with what, once pending callbacks have run (no time passes). */
async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

function wakeups(heads: Record<string, string> = {}, max = 2) {
  const reads: string[] = [];
  const w = new Wakeups({
    maxPerAudience: max,
    head: async (aud) => {
      reads.push(aud);
      if (!(aud in heads)) throw new Error('store down');
      return heads[aud]!;
    },
  });
  return { w, reads };
}

/** Ends every wait a test leaves pending (none may outlive it). */
let end: AbortController;
let never: AbortSignal;
beforeEach(() => {
  end = new AbortController();
  never = end.signal;
});
afterEach(() => end.abort());
const enter = (w: Wakeups, aud: string): Waiter => {
  const waiter = w.enter(aud);
  if (!waiter) throw new Error('no place');
  return waiter;
};

describe('Wakeups', () => {
  it('gives at most maxPerAudience places per audience; leaving frees one; audiences are apart', () => {
    const { w } = wakeups();
    const a = enter(w, API);
    enter(w, API);
    expect(w.enter(API)).toBeUndefined();
    expect(w.enter(OTHER)).toBeDefined();
    a.leave();
    a.leave(); // twice is once
    expect(w.waiting(API)).toBe(1);
    expect(w.enter(API)).toBeDefined();
    expect(w.enter(API)).toBeUndefined();
  });

  it('notify wakes the audience\'s waiters only', async () => {
    const { w } = wakeups();
    const [a1, a2, o] = [enter(w, API), enter(w, API), enter(w, OTHER)];
    const waits = [a1, a2, o].map((x) => x.next(FOREVER_MS, never));
    w.notify(API);
    expect(await Promise.all(waits.slice(0, 2))).toEqual([true, true]);
    expect(await settled(waits[2]!)).toBe('pending');
    w.notify(OTHER);
    expect(await waits[2]).toBe(true);
  });

  it('a wake-up that comes while the poll reads (before next) is kept: next resolves at once, once', async () => {
    const { w } = wakeups();
    const a = enter(w, API);
    w.notify(API);
    expect(await settled(a.next(FOREVER_MS, never))).toBe(true);
    const again = a.next(FOREVER_MS, never);
    expect(await settled(again)).toBe('pending');
    w.notify(API);
    expect(await again).toBe(true);
  });

  it('next resolves false when its signal aborts or its time is up, and a waiter that left is not woken', async () => {
    const { w } = wakeups();
    const a = enter(w, API);
    const gone = new AbortController();
    const waiting = a.next(FOREVER_MS, gone.signal);
    gone.abort();
    expect(await waiting).toBe(false);
    expect(await a.next(0, never)).toBe(false);
    a.leave();
    const late = a.next(FOREVER_MS, never);
    w.notify(API);
    expect(await settled(late)).toBe('pending');
  });

  it('the recheck reads each audience with waiters once and wakes only waiters whose last read saw an older head', async () => {
    const { w, reads } = wakeups({ [API]: '5-0', [OTHER]: '7-0' }, 5);
    const [stale, current, unread] = [enter(w, API), enter(w, API), enter(w, API)];
    const other = enter(w, OTHER);
    stale.saw('4-0');
    current.saw('5-0');
    other.saw('7-0');
    const waits = [stale, current, unread, other].map((x) => x.next(FOREVER_MS, never));
    await w.recheck();
    expect(reads.sort()).toEqual([API, OTHER]);
    expect(await waits[0]).toBe(true);
    // up to date, or still reading (its own read will see the head): not woken
    expect(await Promise.all(waits.slice(1).map(settled))).toEqual(['pending', 'pending', 'pending']);
  });

  it('a recheck whose store cannot answer wakes nobody and does not throw; an audience without waiters is not read', async () => {
    const { w, reads } = wakeups({}, 5);
    const a = enter(w, API);
    a.saw('1-0');
    const waiting = a.next(FOREVER_MS, never);
    await w.recheck();
    expect(await settled(waiting)).toBe('pending');
    a.leave();
    reads.length = 0;
    await w.recheck();
    expect(reads).toEqual([]);
  });
});
