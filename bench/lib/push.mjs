// Kill → refused at a resource server in local mode (bench/baselines/rs-feed.mjs), through the
// revocation feed: 200 single-session kills, each timed from the admin's DELETE until the resource
// server first answers 401 for the token it had just accepted; then one agent-wide kill of 10,000
// sessions, timed until the feed holds all of them and until every token has been refused.
import { performance } from 'node:perf_hooks';
import { AGENTS, API } from './agent-sts.mjs';
import { pool, request } from './http.mjs';
import { adminToken, clientCredentials, sidOf } from './tokens.mjs';

const BUILD_CONCURRENCY = 32;
const CHECK_CONCURRENCY = 32;
/** A kill not seen by then counts as missed (and fails the group's ok). */
const REFUSED_TIMEOUT_MS = 5_000;

const call = (rs, token) => request(`${rs}/api`, { auth: `Bearer ${token}`, body: {} });
const feedState = async (rs) => (await request(`${rs}/feed`, { method: 'GET' })).body;

function percentiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
  return { p50: at(50), p99: at(99), max: s[s.length - 1] };
}
const r1 = (x) => Math.round(x * 10) / 10;

/** Calls until the resource server refuses `token`; the time (ms since `t0`) of the first 401, or undefined. */
async function refusedAfter(rs, token, t0) {
  while (performance.now() - t0 < REFUSED_TIMEOUT_MS) {
    const res = await call(rs, token);
    if (res.status === 401) return performance.now() - t0;
    if (res.status !== 200) throw new Error(`resource server answered ${res.status} ${JSON.stringify(res.body)}`);
  }
  return undefined;
}

async function untilFresh(rs) {
  const t0 = performance.now();
  while (!(await feedState(rs)).fresh) {
    if (performance.now() - t0 > REFUSED_TIMEOUT_MS) throw new Error('the resource server\'s revocation feed never caught up');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function killToRefused(sts, rs, { kills }) {
  await untilFresh(rs);
  const admin = await adminToken(sts);
  const total = [];
  const call0 = [];
  const afterAnswer = [];
  let missed = 0;
  for (let i = 0; i < kills; i++) {
    const token = await clientCredentials(sts, AGENTS.push, 'read');
    const first = await call(rs, token);
    if (first.status !== 200) throw new Error(`a live token was refused: ${first.status} ${JSON.stringify(first.body)}`);
    const sid = await sidOf(sts, token);
    const t0 = performance.now();
    const killed = await request(`${sts.adminUrl}/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE', auth: `Bearer ${admin}` });
    if (killed.status !== 200) throw new Error(`kill answered ${killed.status}`);
    call0.push(performance.now() - t0);
    const ms = await refusedAfter(rs, token, t0);
    if (ms === undefined) missed++;
    else {
      total.push(ms);
      afterAnswer.push(ms - call0.at(-1));
    }
  }
  const feed = await feedState(rs);
  const t = percentiles(total);
  const k = percentiles(call0);
  const a = percentiles(afterAnswer);
  return {
    scenario: `${kills} single-session kills, resource server in local mode`,
    'kill call ms p50': r1(k.p50),
    'kill call ms p99': r1(k.p99),
    'kill→refused ms p50': r1(t.p50),
    'kill→refused ms p99': r1(t.p99),
    'kill→refused ms max': r1(t.max),
    'kill answered→refused ms p50': r1(a.p50),
    'kill answered→refused ms p99': r1(a.p99),
    missed,
    'introspections (fallbacks)': feed.fallbacks,
    ok: missed === 0 && feed.fallbacks === 0,
  };
}

export async function agentKillToRefused(sts, rs, redis, { size }) {
  await untilFresh(rs);
  const admin = await adminToken(sts);
  const t0b = performance.now();
  const tokens = await pool(size, BUILD_CONCURRENCY, () => clientCredentials(sts, AGENTS.pushFleet, 'read'));
  const buildS = (performance.now() - t0b) / 1000;
  // every token verified once before the kill: the resource server's remembered-verification path
  const before = await pool(size, CHECK_CONCURRENCY, async (i) => (await call(rs, tokens[i])).status);
  if (before.some((s) => s !== 200)) throw new Error('a live token was refused before the kill');
  const base = await feedState(rs);
  const t0 = performance.now();
  const killed = await request(`${sts.adminUrl}/agents/${encodeURIComponent(AGENTS.pushFleet)}/revoke-sessions`, { method: 'POST', auth: `Bearer ${admin}` });
  const callMs = performance.now() - t0;
  if (killed.status !== 200 || killed.body.revoked !== size) throw new Error(`agent kill answered ${killed.status} ${JSON.stringify(killed.body)}`);
  let heard;
  for (;;) {
    const f = await feedState(rs);
    if (f.revoked - base.revoked >= size) {
      heard = { ms: performance.now() - t0, sets: f.applied - base.applied };
      break;
    }
    if (performance.now() - t0 > REFUSED_TIMEOUT_MS * 4) throw new Error(`the feed heard ${f.revoked - base.revoked} of ${size} sessions`);
  }
  const after = await pool(size, CHECK_CONCURRENCY, async (i) => (await call(rs, tokens[i])).status);
  const allRefusedMs = performance.now() - t0;
  const stillServed = after.filter((s) => s !== 401).length;
  const streamBytes = await redis.call('MEMORY', 'USAGE', `sts:{ssf:${API}}:sets`);
  return {
    scenario: `agent-wide kill of ${size.toLocaleString('en-US')} sessions, resource server in local mode`,
    'kill call ms': r1(callMs),
    'SETs': heard.sets,
    'kill→feed holds all ms': r1(heard.ms),
    'kill→all refused ms': r1(allRefusedMs),
    'not refused': stillServed,
    'stream bytes (all SETs kept)': streamBytes,
    'build s': r1(buildS),
    ok: stillServed === 0,
  };
}
