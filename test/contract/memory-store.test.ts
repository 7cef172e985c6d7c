import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { AGENT_KILL_MARKER_TTL_MS } from '../../src/store/index.js';
import { MemorySessionStore } from '../../src/store/memory/session-store.js';
import { makeRoot, sessionStoreContract } from './session-store.contract.js';

sessionStoreContract('memory', async () => {
  const store = new MemorySessionStore();
  return { store, wallClockReplayExpiry: false, snapshot: async () => store.snapshot(), close: () => store.close() };
});

describe('memory store: time comes from its callers and its clock', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('an agent kill marker stops refusing once AGENT_KILL_MARKER_TTL_MS has passed (by nowMs)', async () => {
    const store = new MemorySessionStore();
    const t = Date.now();
    await store.revokeAgent('agent-k', t);
    const s = makeRoot({ agent: 'agent-k', sub: 'agent-k', exp: Math.floor((t + AGENT_KILL_MARKER_TTL_MS) / 1000) + 600 });
    expect(await store.create(s, t + AGENT_KILL_MARKER_TTL_MS - 1, t)).toBe('agent_revoked');
    expect(await store.create(s, t + AGENT_KILL_MARKER_TTL_MS, t)).toBe('created');
    await store.close();
  });

  it('the sweeper drops what has expired by the clock given to the constructor, not by the wall clock', async () => {
    jest.useFakeTimers();
    const t = Date.now();
    let clock = t;
    const store = new MemorySessionStore(() => clock);
    const root = makeRoot();
    expect(await store.create(root, t, t)).toBe('created');
    expect(await store.useOnce('client-assertion', 'jti-1', t + 1_000, t)).toBe(true);
    await store.revokeAgent('agent-k', t);
    const full = store.snapshot();
    expect(full).toHaveLength(3);
    jest.advanceTimersByTime(60_000);
    expect(store.snapshot()).toEqual(full); // the store's clock has not moved
    clock = root.exp * 1000 + AGENT_KILL_MARKER_TTL_MS;
    jest.advanceTimersByTime(60_000);
    expect(store.snapshot()).toEqual([]);
    await store.close();
  });
});
