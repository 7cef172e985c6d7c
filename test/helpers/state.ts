import type { Redis } from 'ioredis';
import type { MemorySessionStore } from '../../src/store/memory/session-store.js';
import type { RegistryKind, RegistryStore } from '../../src/store/registry.js';
import { AGENT_KILL_MARKER_SUFFIX, KILLED_SET_SUFFIX, OUTBOX_SUFFIX, redisKeys, TREE_KEY } from '../../src/store/keys.js';
import type { TestSts } from './sts.js';

/**
 * Where the state helpers read what an app wrote: the Redis nodes holding its keys (one for a
 * single Redis, every master of a cluster), or its memory stores. `none` says why it cannot be
 * read, and every helper throws: a "nothing was written" check never passes for want of a look.
 */
export type StateSource =
  | { kind: 'redis'; nodes: () => Redis[] }
  | { kind: 'memory'; sessions: MemorySessionStore; registry?: RegistryStore }
  | { kind: 'none'; why: string };

export interface Entry {
  value: unknown;
  /** Redis: the absolute expiry (PEXPIRETIME, -1 for none). Memory: the expiry, if any, is part of the value. */
  expiresAt?: number;
}

const isTombstone = (k: string) => k.includes(`}:${TREE_KEY.revoked}`);
/** What only a kill writes: tombstones, agent markers, a tree's killed set and its kill outbox, and the set of unannounced kills. */
const isKillMark = (k: string) => isTombstone(k) || k.endsWith(`}${AGENT_KILL_MARKER_SUFFIX}`) || k.endsWith(`}:${KILLED_SET_SUFFIX}`)
  || k.endsWith(`}:${OUTBOX_SUFFIX}`) || k.endsWith(redisKeys('').unannounced());
/** The audit trail's keys: every decision, refusals included, is recorded there (see audit tests). */
const isAuditKey = (k: string) => k.includes('{audit}:');
/**
 * Usage counts: counted in process and flushed on a timer (every STS_USAGE_FLUSH_SECONDS), so a
 * flush of earlier requests' counts can land at any moment; their figures are asserted by the
 * access-review and usage tests.
 */
const isUsageKey = (k: string) => k.includes('{usage:');
/** The SSF streams: a kill's SETs for the resource servers (see test/integration/ssf/). */
const isSsfKey = (k: string) => k.includes('{ssf:');
/**
 * When each credential was last used: written off the request, at most once a minute per
 * credential, on any authentication (a refused grant's too), so it lands whenever it lands.
 */
const isLastUsedKey = (k: string) => k.endsWith(redisKeys('').credentialLastUsed());
/** The memory session store's kill marks (its snapshot's line kinds), left out like their Redis keys. */
const MEMORY_KILL_MARKS = new Set(['kill-marker', 'outbox', 'unannounced']);

function source(sts: TestSts): Exclude<StateSource, { kind: 'none' }> {
  if (sts.state.kind === 'none') throw new Error(`cannot read this app's store state: ${sts.state.why}`);
  return sts.state;
}

/** Every key of the app's prefix on every node, each with the node that holds it. */
async function redisKeysOf(sts: TestSts, nodes: Redis[]): Promise<{ key: string; node: Redis }[]> {
  if (nodes.length === 0) throw new Error('no Redis node to read');
  const out: { key: string; node: Redis }[] = [];
  for (const node of nodes) for (const key of await node.keys(`${sts.prefix}*`)) out.push({ key, node });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

const KINDS: RegistryKind[] = ['agent', 'resourceServer'];

/** The memory stores' entries, named `<what> <id>`: the same ones the Redis filter keeps (no last uses). */
async function memoryEntries(sessions: MemorySessionStore, registry?: RegistryStore): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for (const line of sessions.snapshot()) {
    const [what = '', id = '', ...rest] = line.split(' ');
    if (!MEMORY_KILL_MARKS.has(what)) out.set(`${what} ${id}`, { value: rest.join(' ') });
  }
  if (registry) {
    for (const kind of KINDS) {
      const { docs } = await registry.all(kind);
      for (const [id, doc] of docs) out.set(`registry ${kind} ${id}`, { value: doc });
    }
    out.set('registry version', { value: await registry.version() });
    for (const p of await registry.pending()) out.set(`registry pending ${p.kind} ${p.id}`, { value: '' });
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const kept = (k: string) => !isKillMark(k) && !isAuditKey(k) && !isUsageKey(k) && !isSsfKey(k) && !isLastUsedKey(k);

/**
 * Every entry this test's app wrote, for asserting "nothing changed": Redis keys of its prefix on
 * every node (a cluster's every master), or the memory stores' entries — except kill tombstones and
 * agent kill markers, which only a kill writes (see `tombstones`), the audit trail, which records
 * refusals too, the usage counts and credentials' last uses, written on their own time, and the
 * SSF streams, where a kill leaves its SETs for resource servers. Throws when the app's state cannot be read.
 */
export async function redisState(sts: TestSts): Promise<string[]> {
  const src = source(sts);
  if (src.kind === 'memory') return [...(await memoryEntries(src.sessions, src.registry)).keys()];
  return (await redisKeysOf(sts, src.nodes())).map((e) => e.key).filter(kept);
}

/**
 * Every entry of `redisState` with its content and, on Redis, its absolute expiry (PEXPIRETIME):
 * equal snapshots mean nothing was written, TTLs included. Throws when the state cannot be read.
 */
export async function snapshot(sts: TestSts): Promise<Record<string, Entry>> {
  const src = source(sts);
  if (src.kind === 'memory') return Object.fromEntries(await memoryEntries(src.sessions, src.registry));
  const out: Record<string, Entry> = {};
  for (const { key, node } of await redisKeysOf(sts, src.nodes())) {
    if (!kept(key)) continue;
    const type = await node.type(key);
    let value: unknown = `<${type}>`;
    if (type === 'hash') value = await node.hgetall(key);
    else if (type === 'set') value = (await node.smembers(key)).sort();
    else if (type === 'zset') value = await node.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'string') value = await node.get(key);
    out[key] = { value, expiresAt: (await node.call('PEXPIRETIME', key)) as number };
  }
  return out;
}

/** The tombstones kills left: one per killed subtree root, until that session would have expired. Redis only. */
export async function tombstones(sts: TestSts): Promise<string[]> {
  const src = source(sts);
  if (src.kind === 'memory') throw new Error('the memory store keeps no tombstones: its kill and create never interleave');
  return (await redisKeysOf(sts, src.nodes())).map((e) => e.key).filter(isTombstone);
}
