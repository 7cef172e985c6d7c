import { describe, expect, it } from '@jest/globals';
import { MemoryScimSeenStore } from '../../src/store/memory/scim-seen-store.js';
import { SEEN_WRITE_INTERVAL_MS, SeenRecorder } from '../../src/scim/seen.js';

/** The router's recorder: a repeat inside the interval reaches no store; past it, or forgotten, it does. */
describe('SeenRecorder', () => {
  const T0 = Date.UTC(2026, 11, 7, 12);

  function recorder() {
    let now = T0;
    const store = new MemoryScimSeenStore();
    const calls: string[] = [];
    const see = store.see.bind(store);
    store.see = async (id, at, interval) => {
      calls.push(id);
      return see(id, at, interval);
    };
    return { rec: new SeenRecorder(store, () => now), store, calls, at: (ms: number) => { now = ms; } };
  }

  it('one store call per agent per interval; a clock gone backwards asks the store, which keeps the later sighting', async () => {
    const { rec, store, calls, at } = recorder();
    await rec.saw('a');
    await rec.saw('a');
    at(T0 + SEEN_WRITE_INTERVAL_MS - 1);
    await rec.saw('a');
    expect(calls).toEqual(['a']);
    at(T0 + SEEN_WRITE_INTERVAL_MS);
    await rec.saw('a');
    expect(calls).toEqual(['a', 'a']);
    at(T0);
    await rec.saw('a');
    expect(calls).toEqual(['a', 'a', 'a']);
    expect((await store.all()).get('a')).toBe(T0 + SEEN_WRITE_INTERVAL_MS);
  });

  it('forget: the next sighting asks the store again', async () => {
    const { rec, calls } = recorder();
    await rec.saw('a');
    rec.forget('a');
    await rec.saw('a');
    expect(calls).toEqual(['a', 'a']);
  });

  it('remembers a bounded number of agents: past the bound the oldest costs one more store call, the newest none', async () => {
    const { rec, calls } = recorder();
    const n = 10_001;
    for (let i = 0; i < n; i++) await rec.saw(`agent-${i}`);
    calls.length = 0;
    await rec.saw(`agent-${n - 1}`);
    expect(calls).toEqual([]);
    await rec.saw('agent-0');
    expect(calls).toEqual(['agent-0']);
  });
});
