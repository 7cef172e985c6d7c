import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { pino } from 'pino';
import { LiveRegistry, REGISTRY_POLL_MS } from '../../src/clients/live-registry.js';
import { agentRecordOfFile } from '../../src/clients/records.js';
import { MemoryRegistryStore } from '../../src/store/memory/registry-store.js';
import type { AnnouncedChange, RegistryKind } from '../../src/store/registry.js';

const API = 'https://api.example.com';
const doc = (id: string, scopes: string[]) => JSON.stringify(agentRecordOfFile({ id, audiences: { [API]: scopes } } as never, '2026-12-07T00:00:00.000Z'));

/**
 * A memory store that counts whole reads, and can lose announcements (`deaf`: a lost pub/sub
 * message) or hold them back until `release()` (one still on its way when the poll reads the version).
 */
class CountingStore extends MemoryRegistryStore {
  wholeReads = 0;
  deaf = false;
  held: (() => void)[] | undefined;

  release(): void {
    for (const deliver of this.held?.splice(0) ?? []) deliver();
    this.held = undefined;
  }

  override async all(kind: RegistryKind) {
    this.wholeReads++;
    return super.all(kind);
  }

  override async subscribe(onChange: (change: AnnouncedChange) => void) {
    return super.subscribe((c) => {
      if (this.held) this.held.push(() => onChange(c));
      else if (!this.deaf) onChange(c);
    });
  }
}

describe('the live registry follows announced changes without re-reading the whole registry', () => {
  let store: CountingStore;
  let live: LiveRegistry;

  beforeEach(async () => {
    // the poll's interval is faked; announcements (microtasks) run as in production
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    store = new CountingStore();
    await store.add('agent', 'a1', doc('a1', ['read']));
    live = new LiveRegistry(store, [], pino({ level: 'silent' }), () => Date.now());
    await live.start();
  });
  afterEach(async () => {
    await live.close();
    jest.useRealTimers();
  });

  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  const pollOnce = async () => {
    await jest.advanceTimersByTimeAsync(REGISTRY_POLL_MS);
    await settle();
  };

  it('each change heard in order is applied alone, and the version poll finds nothing to re-read', async () => {
    const loaded = store.wholeReads;
    await store.replace('agent', 'a1', doc('a1', ['read']), doc('a1', ['read', 'write']));
    await store.add('agent', 'a2', doc('a2', ['read']));
    await settle();
    expect(live.agent('a1')?.audiences[API]).toEqual(['read', 'write']);
    expect(live.agent('a2')).toBeDefined();
    await pollOnce();
    await pollOnce();
    expect(store.wholeReads).toBe(loaded);
  });

  it('a change whose announcement is still on its way when the poll reads the version costs no whole read', async () => {
    const loaded = store.wholeReads;
    store.held = [];
    await store.add('agent', 'late', doc('late', ['read']));
    await pollOnce();
    expect(store.wholeReads).toBe(loaded);
    store.release();
    await settle();
    expect(live.agent('late')).toBeDefined();
    await pollOnce();
    await pollOnce();
    expect(store.wholeReads).toBe(loaded);
  });

  it('a change not heard leaves the version behind: the second poll that finds it so re-reads everything', async () => {
    const loaded = store.wholeReads;
    store.deaf = true;
    await store.add('agent', 'missed', doc('missed', ['read']));
    store.deaf = false;
    await store.add('agent', 'heard', doc('heard', ['read']));
    await settle();
    expect(live.agent('heard')).toBeDefined();
    expect(live.agent('missed')).toBeUndefined();
    await pollOnce();
    expect(store.wholeReads).toBe(loaded);
    await pollOnce();
    expect(store.wholeReads).toBeGreaterThan(loaded);
    expect(live.agent('missed')).toBeDefined();
    // caught up: no further whole read
    const caughtUp = store.wholeReads;
    await pollOnce();
    expect(store.wholeReads).toBe(caughtUp);
  });
});
