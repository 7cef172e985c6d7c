/** The registry store contract: the Redis store (single and cluster) and the memory twin pass this same suite. */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { AnnouncedChange, RegistryStore } from '../../src/store/registry.js';

export interface ContractRegistryStore {
  /** Two handles on the same stored registry (two instances); the memory twin may hand out one twice. */
  stores: [RegistryStore, RegistryStore];
  close(): Promise<void>;
}

const CHANGE_WAIT_MS = 5_000;

/** Resolves with the first `n` changes `store` hears, or rejects after CHANGE_WAIT_MS. */
async function hear(store: RegistryStore, n: number): Promise<{ heard: Promise<AnnouncedChange[]>; stop: () => Promise<void> }> {
  const got: AnnouncedChange[] = [];
  let done!: (c: AnnouncedChange[]) => void;
  const heard = new Promise<AnnouncedChange[]>((resolve, reject) => {
    done = resolve;
    setTimeout(() => reject(new Error(`heard ${got.length} of ${n} changes`)), CHANGE_WAIT_MS).unref();
  });
  const stop = await store.subscribe((c) => {
    got.push(c);
    if (got.length === n) done(got);
  });
  return { heard, stop };
}

export function registryStoreContract(name: string, factory: () => Promise<ContractRegistryStore>): void {
  describe(`RegistryStore contract: ${name}`, () => {
    let h: ContractRegistryStore;
    let a: RegistryStore;
    let b: RegistryStore;
    beforeEach(async () => {
      h = await factory();
      [a, b] = h.stores;
    });
    afterEach(async () => {
      await h.close();
    });

    it('a miss is undefined; add stores only when absent; every instance reads what one wrote', async () => {
      expect(await a.get('agent', 'x')).toBeUndefined();
      expect(await a.add('agent', 'x', '{"v":1}')).toBe(true);
      expect(await a.add('agent', 'x', '{"v":2}')).toBe(false);
      expect(await b.get('agent', 'x')).toBe('{"v":1}');
      expect(await b.get('resourceServer', 'x')).toBeUndefined();
    });

    it('put replaces, replace is compare-and-set, remove says whether anything was there', async () => {
      await a.put('agent', 'x', 'one');
      await a.put('agent', 'x', 'two');
      expect(await b.get('agent', 'x')).toBe('two');
      expect(await b.replace('agent', 'x', 'one', 'three')).toBe(false);
      expect(await a.get('agent', 'x')).toBe('two');
      expect(await b.replace('agent', 'x', 'two', 'three')).toBe(true);
      expect(await a.get('agent', 'x')).toBe('three');
      expect(await a.remove('agent', 'x')).toBe(true);
      expect(await a.remove('agent', 'x')).toBe(false);
      expect(await b.get('agent', 'x')).toBeUndefined();
    });

    it('all lists one kind with the version it was read at; every change bumps the version, a refused one does not', async () => {
      const v0 = await a.version();
      await a.add('agent', 'x', 'X');
      await a.add('agent', 'y:with/odd@chars', 'Y');
      await a.add('resourceServer', 'https://rs.example', 'R');
      expect(await b.version()).toBe(v0 + 3);
      await a.add('agent', 'x', 'again');
      await a.replace('agent', 'x', 'nope', 'Z');
      await a.remove('agent', 'nobody');
      expect(await b.version()).toBe(v0 + 3);
      const all = await b.all('agent');
      expect(all.version).toBe(v0 + 3);
      expect([...all.docs.entries()].sort()).toEqual([['x', 'X'], ['y:with/odd@chars', 'Y']]);
      expect([...(await b.all('resourceServer')).docs.entries()]).toEqual([['https://rs.example', 'R']]);
    });

    it('every change is announced to every subscriber, in order, with its kind, id (":" intact) and the version it produced', async () => {
      const onB = await hear(b, 4);
      const onA = await hear(a, 4);
      const v = await a.version();
      await a.add('agent', 'x', 'X');
      await a.put('resourceServer', 'https://rs.example:8443/api', 'R');
      await a.add('agent', 'x', 'refused');
      await b.replace('agent', 'x', 'X', 'X2');
      await b.remove('agent', 'x');
      // the refused add bumped nothing
      const want = [
        { kind: 'agent', id: 'x', version: v + 1 }, { kind: 'resourceServer', id: 'https://rs.example:8443/api', version: v + 2 },
        { kind: 'agent', id: 'x', version: v + 3 }, { kind: 'agent', id: 'x', version: v + 4 },
      ];
      expect(await onB.heard).toEqual(want);
      expect(await onA.heard).toEqual(want);
      await onA.stop();
      await onB.stop();
    });

    it('a write at a version lands only while the registry is still at it: a change anywhere in between refuses it, writing nothing', async () => {
      await a.add('agent', 'x', 'X');
      const { version } = await a.all('agent');
      await b.add('resourceServer', 'https://rs.example', 'R');
      expect(await a.replace('agent', 'x', 'X', 'X2', { version })).toBe(false);
      expect(await a.add('agent', 'y', 'Y', { version })).toBe(false);
      expect(await b.get('agent', 'x')).toBe('X');
      expect(await b.get('agent', 'y')).toBeUndefined();
      expect(await a.version()).toBe(version + 1);
      expect(await a.replace('agent', 'x', 'X', 'X2', { version: version + 1 })).toBe(true);
      expect(await b.get('agent', 'x')).toBe('X2');
    });

    it('an entry marked pending is listed until a write clears the mark; a refused write changes no mark', async () => {
      expect(await a.pending()).toEqual([]);
      await a.add('agent', 'x:1', 'X', { pending: true });
      await a.add('resourceServer', 'https://rs.example', 'R', { pending: true });
      expect(await b.add('agent', 'x:1', 'again', { pending: false })).toBe(false);
      const listed = (await b.pending()).sort((p, q) => p.kind.localeCompare(q.kind));
      expect(listed).toEqual([{ kind: 'agent', id: 'x:1' }, { kind: 'resourceServer', id: 'https://rs.example' }]);
      expect(await b.replace('agent', 'x:1', 'X', 'X2')).toBe(true);
      expect(await a.pending()).toHaveLength(2);
      expect(await b.replace('agent', 'x:1', 'X2', 'X3', { pending: false })).toBe(true);
      expect(await a.pending()).toEqual([{ kind: 'resourceServer', id: 'https://rs.example' }]);
    });

    it('credential use is kept per client and credential, the latest time wins', async () => {
      await a.touch('agent', 'x', 'c1', 1_000);
      await b.touch('agent', 'x', 'c1', 2_000);
      await a.touch('agent', 'x', 'c2', 3_000);
      await a.touch('agent', 'xy', 'c1', 4_000);
      await a.touch('resourceServer', 'x', 'c1', 5_000);
      expect(await b.lastUsed('agent', 'x')).toEqual({ c1: 2_000, c2: 3_000 });
      expect(await b.lastUsed('agent', 'nobody')).toEqual({});
    });
  });
}
