// Redis memory per live session, measured two ways over N new sessions, layout-agnostic:
//  - INFO used_memory before/after, divided by N (everything Redis allocated for them);
//  - the sum of MEMORY USAGE (SAMPLES 0: exact) over every agent-sts key, before/after, divided by N,
//    broken down by key type (session hashes, index zsets, children sets, ...).
// Run on a Redis that holds nothing else of size, so the deltas are the sessions' own.
// The audit trail's stream is counted apart: its token.issued record outlives the session and is
// bounded by the trail's retention (STS_AUDIT_MAX_RECORDS), not by the live sessions.
import { AGENTS } from './agent-sts.mjs';
import { pool } from './http.mjs';
import { usedMemory } from './redis.mjs';
import { clientCredentials, exchange, sidOf } from './tokens.mjs';

const CONCURRENCY = 32;
const SCAN_COUNT = 1_000;
/** Backstop on SCAN rounds (each returns ~SCAN_COUNT keys): a million keys is far beyond this run. */
const MAX_SCAN_ROUNDS = 2_000;
/** Keys of the baselines, not of agent-sts. */
const FOREIGN = /^(oidc:|floor:)/;
/** The audit trail's keys (stream, head, checkpoint): one hash slot, `{audit}`. */
const TRAIL = /\{audit\}/;
export const TRAIL_TYPE = 'audit trail';

async function scanKeys(client, match = '*') {
  const keys = [];
  let cursor = '0';
  for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
    const [next, batch] = await client.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    keys.push(...batch);
    cursor = next;
    if (cursor === '0') return [...new Set(keys)];
  }
  throw new Error(`SCAN did not finish within ${MAX_SCAN_ROUNDS} rounds`);
}

/**
 * Sum of MEMORY USAGE (SAMPLES 0) by key type over every agent-sts key (the trail's keys as
 * TRAIL_TYPE), SCANned in steps with TYPE and MEMORY USAGE pipelined per step, so millions of keys
 * are never held at once. `maxKeys` bounds the SCAN rounds. Returns { byType, keys }.
 */
export async function usageByType(client, maxKeys = MAX_SCAN_ROUNDS * SCAN_COUNT) {
  const maxRounds = Math.ceil(maxKeys / SCAN_COUNT) * 4 + 100;
  const byType = {};
  let keys = 0;
  let cursor = '0';
  for (let round = 0; round < maxRounds; round++) {
    const [next, batch] = await client.scan(cursor, 'COUNT', SCAN_COUNT);
    const own = batch.filter((k) => !FOREIGN.test(k));
    const pipe = client.pipeline();
    for (const k of own) pipe.type(k).memory('USAGE', k, 'SAMPLES', '0');
    const replies = own.length ? await pipe.exec() : [];
    for (let i = 0; i < own.length; i++) {
      const type = replies[2 * i][1];
      if (type === 'none') continue;
      const t = TRAIL.test(own[i]) ? TRAIL_TYPE : type;
      byType[t] = (byType[t] ?? 0) + Number(replies[2 * i + 1][1] ?? 0);
      keys += 1;
    }
    cursor = next;
    if (cursor === '0') return { byType, keys };
  }
  throw new Error(`SCAN did not finish within ${maxRounds} rounds`);
}

async function snapshot(client) {
  return { used: await usedMemory(client), byType: (await usageByType(client)).byType };
}

function perSession(kind, before, after, n) {
  const types = new Set([...Object.keys(before.byType), ...Object.keys(after.byType)]);
  const breakdown = {};
  let total = 0;
  const delta = (t) => (after.byType[t] ?? 0) - (before.byType[t] ?? 0);
  for (const t of types) {
    if (t === TRAIL_TYPE) continue;
    total += delta(t);
    if (Math.round(delta(t) / n) !== 0) breakdown[t] = Math.round(delta(t) / n);
  }
  const trail = delta(TRAIL_TYPE);
  return {
    sessions: kind,
    n,
    'used_memory Δ/session B': Math.round((after.used - before.used - trail) / n),
    'MEMORY USAGE Δ/session B': Math.round(total / n),
    'by key type (B/session)': Object.entries(breakdown).map(([t, b]) => `${t} ${b}`).join(', '),
    'audit record B (apart)': Math.round(trail / n),
  };
}

/** Bytes of each key that names this session id (its hash, and its children set if it has one). */
async function keysOfSession(client, sid) {
  const keys = (await scanKeys(client, `*${sid}*`)).filter((k) => !FOREIGN.test(k));
  const out = [];
  for (const k of keys) out.push({ key: k, type: await client.type(k), bytes: Number(await client.memory('USAGE', k, 'SAMPLES', '0')) });
  return out;
}

export async function measureMemory(sts, client, { n }) {
  // Warm every code path (script loading, first index keys) before the first snapshot.
  const warm = await clientCredentials(sts, AGENTS.mem, 'read write');
  await exchange(sts, AGENTS.mem, warm, 'read');

  const s0 = await snapshot(client);
  const roots = await pool(n, CONCURRENCY, () => clientCredentials(sts, AGENTS.mem, 'read write'));
  const s1 = await snapshot(client);
  await pool(n, CONCURRENCY, () => exchange(sts, AGENTS.mem, roots[0], 'read'));
  const s2 = await snapshot(client);

  const rows = [
    perSession('root (client_credentials)', s0, s1, n),
    perSession('delegated (exchange, depth 1)', s1, s2, n),
  ];
  const sample = await keysOfSession(client, await sidOf(sts, roots[1]));
  return { rows, sample };
}
