// Redis bytes per live session as the store grows (issue 25, "cost as the work grows"): N sessions
// (half roots, half delegated children, one child per root) written through the service's own
// store code (dist/: RedisSessionStore.create, the same Lua script the service runs per issuance),
// since issuing a million over HTTP would take far too long here. Sessions are shaped like real ones
// (12 random bytes as base64url ids, a 43-character tokenHash, the bench's audience, scope and agent).
// Measured two ways, each as a delta over the N sessions, divided by N:
//  - INFO used_memory (everything Redis allocated for them, including its dict growth);
//  - MEMORY USAGE … SAMPLES 0 (exact) summed over EVERY key, by key type (a full SCAN).
// The audit trail's keys ({audit}) are counted apart; this path writes no token.issued record (the
// service appends it in the same script when the trail is on; the `memory` group reports its size).
// With no redisUrl, each size gets a fresh redis-server of its own, so the deltas are clean.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectRedis } from '../../dist/store/redis/connect.js';
import { RedisSessionStore } from '../../dist/store/redis/session-store.js';
import { redisKeys } from '../../dist/store/keys.js';
import { API, AGENTS } from './agent-sts.mjs';
import { pool } from './http.mjs';
import { TRAIL_TYPE, usageByType } from './memory.mjs';
import { startRedis, usedMemory } from './redis.mjs';

const CONCURRENCY = 200;
/** The service's default REDIS_KEY_PREFIX. */
const KEY_PREFIX = 'sts:';
/** Generous: the store's own default (500 ms) is for live traffic, not a bulk load at 200 in flight. */
const COMMAND_TIMEOUT_MS = 10_000;
const ID_BYTES = 12;
const TOKEN_HASH_BYTES = 32;
const TTL_S = 3_600;
const MAX_DEPTH = 2;
const SCOPE = ['read', 'write'];
const TARGET_B = 1_024;
/** The audit trail's keys: one hash slot, `{audit}`. */

const id = () => randomBytes(ID_BYTES).toString('base64url');

function sessionPair(nowS) {
  const agent = AGENTS.mem;
  const root = {
    sid: id(), ancestors: [], chain: [], depth: 0, maxDepth: MAX_DEPTH, agent, sub: agent, aud: API, scope: [...SCOPE],
    iat: nowS, exp: nowS + TTL_S, jti: id(), tokenHash: randomBytes(TOKEN_HASH_BYTES).toString('base64url'),
  };
  // A delegation to itself, as bench-mem's exchange of its own token makes it: no `act` (attenuate.ts).
  const child = {
    ...root, sid: `${root.sid}.${id()}`, parent: root.sid, ancestors: [root.sid], chain: [agent], depth: 1,
    scope: [...SCOPE], jti: id(), tokenHash: randomBytes(TOKEN_HASH_BYTES).toString('base64url'),
  };
  return [root, child];
}

async function createPair(store, nowS) {
  for (const s of sessionPair(nowS)) {
    const nowMs = Date.now();
    const outcome = await store.create(s, nowMs, nowMs);
    if (outcome !== 'created') throw new Error(`store.create: ${outcome}`);
  }
}

async function snapshot(client, maxKeys) {
  const used = await usedMemory(client);
  const t0 = performance.now();
  const usage = await usageByType(client, maxKeys);
  return { used, ...usage, scanS: (performance.now() - t0) / 1000 };
}

/** MEMORY USAGE of one root's hash, its children set and its child's hash. */
async function oneTree(client, keys, store, nowS) {
  const [root, child] = sessionPair(nowS);
  const nowMs = Date.now();
  await store.create(root, nowMs, nowMs);
  await store.create(child, nowMs, nowMs);
  const usage = async (key) => Number(await client.memory('USAGE', key, 'SAMPLES', '0'));
  return `root hash ${await usage(keys.session(root.sid))} B, child hash ${await usage(keys.session(child.sid))} B, children set ${await usage(keys.children(root.sid))} B`;
}

async function measureSize(redisUrl, n) {
  const redis = connectRedis({ url: redisUrl, commandTimeoutMs: COMMAND_TIMEOUT_MS });
  await redis.connect();
  const keys = redisKeys(KEY_PREFIX);
  const store = new RedisSessionStore(redis, keys);
  try {
    const nowS = Math.floor(Date.now() / 1000);
    await createPair(store, nowS); // scripts loaded, index keys made, before the first snapshot
    const maxKeys = (await redis.dbsize()) + 2 * n;
    const before = await snapshot(redis, maxKeys);
    const pairs = Math.floor(n / 2);
    const t0 = performance.now();
    await pool(pairs, CONCURRENCY, () => createPair(store, nowS));
    const createS = (performance.now() - t0) / 1000;
    const after = await snapshot(redis, maxKeys);
    const sample = await oneTree(redis, keys, store, nowS);
    return { n: pairs * 2, createS, before, after, sample };
  } finally {
    redis.disconnect();
  }
}

function row(m) {
  const { n, before, after } = m;
  const delta = (t) => (after.byType[t] ?? 0) - (before.byType[t] ?? 0);
  const types = [...new Set([...Object.keys(before.byType), ...Object.keys(after.byType)])].filter((t) => t !== TRAIL_TYPE);
  const total = types.reduce((s, t) => s + delta(t), 0);
  const trail = delta(TRAIL_TYPE);
  return {
    sessions: n,
    'create s': Math.round(m.createS * 10) / 10,
    'sessions/s': Math.round(n / m.createS),
    'used_memory Δ/session B': Math.round((after.used - before.used - trail) / n),
    'MEMORY USAGE Δ/session B': Math.round(total / n),
    'by key type (B/session)': types.map((t) => `${t} ${Math.round(delta(t) / n)}`).join(', '),
    'keys Δ': after.keys - before.keys,
    'audit B/session (apart)': Math.round(trail / n),
    'scan s': Math.round(after.scanS * 10) / 10,
    'one tree (MEMORY USAGE)': m.sample,
  };
}

/**
 * Bytes per live session at each size. redisUrl: null (the default use) starts a fresh
 * redis-server per size in a temp dir; a URL measures every size on that Redis, one after the
 * other (deltas only, nothing flushed). Returns { rows, targets, plot }.
 */
export async function memoryGrowth(redisUrl, { sizes = [100_000, 1_000_000], log } = {}) {
  const measured = [];
  for (const size of sizes) {
    let own;
    let dir;
    if (!redisUrl) {
      dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-memory-growth-'));
      own = await startRedis(dir);
    }
    try {
      const m = await measureSize(redisUrl ?? own.url, size);
      measured.push(m);
      log?.(`memory-growth ${size}: created in ${m.createS.toFixed(1)} s, scan ${m.after.scanS.toFixed(1)} s`);
    } finally {
      if (own) await own.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
  const rows = measured.map(row);
  const targets = rows.map((r) => {
    const worst = Math.max(r['used_memory Δ/session B'], r['MEMORY USAGE Δ/session B']);
    return {
      target: `Redis memory per live session ≤ 1 KB at ${r.sessions.toLocaleString('en-US')} sessions`,
      measured: `used_memory ${r['used_memory Δ/session B']} B, MEMORY USAGE ${r['MEMORY USAGE Δ/session B']} B (audit record apart: ${r['audit B/session (apart)']} B)`,
      verdict: worst <= TARGET_B ? 'met' : 'MISSED',
    };
  });
  const plot = {
    title: `Redis bytes per live session (half roots, half children; ${new Date().toISOString().slice(0, 10)})`,
    xLabel: 'live sessions',
    yLabel: 'bytes per session',
    logX: true,
    series: [
      { name: 'INFO used_memory Δ / N', points: rows.map((r) => [r.sessions, r['used_memory Δ/session B']]) },
      { name: 'Σ MEMORY USAGE Δ / N', points: rows.map((r) => [r.sessions, r['MEMORY USAGE Δ/session B']]) },
    ],
    targets: [{ name: 'target 1,024 B', points: rows.map((r) => [r.sessions, TARGET_B]) }],
  };
  return { rows, targets, plot };
}
