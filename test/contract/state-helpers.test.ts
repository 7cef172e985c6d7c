import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clusterForFile } from '../helpers/redis-cluster.js';
import { expectRefused, sidOf } from '../helpers/responses.js';
import { adminToken, API, clientCredentials, exchange, kill, redisState, snapshot, startSts, tombstones, type TestSts, type TestStsOptions } from '../helpers/sts.js';

/**
 * The "nothing was written" checks (redisState, snapshot, expectRefused) see every store kind a
 * test can start: one Redis, every master of a cluster, the memory twins, the live registry.
 * A write shows in them, a refusal does not, and an app whose state they cannot read makes them
 * throw instead of comparing two empty snapshots.
 */
const cluster = clusterForFile();

const kinds: [string, () => TestStsOptions][] = [
  ['one Redis', () => ({})],
  ['a Redis cluster', () => ({ redisUrl: cluster.url() })],
  ['the memory store', () => ({ store: 'memory' })],
];

describe.each(kinds)('%s', (_name, options) => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts({ ...options(), live: true });
  });
  afterAll(async () => {
    await sts?.close();
  });

  it('an issued token, a child and a kill each show; a refused exchange does not', async () => {
    const empty = await snapshot(sts);
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const issued = await snapshot(sts);
    expect(Object.keys(issued).length).toBeGreaterThan(Object.keys(empty).length);
    expect(JSON.stringify(issued)).toContain(sidOf(root));
    expect(await redisState(sts)).toEqual(Object.keys(issued));

    await expectRefused(sts, () => exchange(sts, 'outsider-agent', root, API, 'invoices:read'), 400, 'invalid_grant');
    const child = (await exchange(sts, 'sub-agent', root, API, 'invoices:read')).body.access_token as string;
    expect(JSON.stringify(await snapshot(sts))).toContain(sidOf(child));

    await kill(sts, sidOf(root), { admin: await adminToken(sts) });
    expect(JSON.stringify(await snapshot(sts))).not.toContain(sidOf(child));
  });

  it("a registry write shows (the live registry's documents, version and pending marks are part of the state)", async () => {
    const before = await snapshot(sts);
    const { store } = sts.deps.liveRegistry!;
    await store.put('agent', 'leaf-agent', (await store.get('agent', 'leaf-agent'))!);
    expect(await snapshot(sts)).not.toEqual(before);
  });
});

describe('an app whose state cannot be read', () => {
  it('the memory store keeps no tombstones: tombstones() throws rather than answer []', async () => {
    const sts = await startSts({ store: 'memory' });
    try {
      await expect(tombstones(sts)).rejects.toThrow(/no tombstones/);
    } finally {
      await sts.close();
    }
  });

  it('a state it cannot read: snapshot and redisState throw rather than compare two empty ones', async () => {
    const sts = await startSts({ store: 'memory' });
    try {
      const blind: TestSts = { ...sts, state: { kind: 'none', why: 'for this test' } };
      await expect(snapshot(blind)).rejects.toThrow(/cannot read this app's store state: for this test/);
      await expect(redisState(blind)).rejects.toThrow(/cannot read/);
    } finally {
      await sts.close();
    }
  });
});
