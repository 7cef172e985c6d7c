// Kill scenarios: a 1,000-session subtree through DELETE /admin/sessions/:sid and 10,000 sessions of
// one agent through POST /admin/agents/:id/revoke-sessions. Each kill call is timed from request to
// response; right after it returns, every killed token is introspected and must be inactive.
import { performance } from 'node:perf_hooks';
import { AGENTS, API, SECRET } from './agent-sts.mjs';
import { basic, pool, request } from './http.mjs';
import { adminToken, clientCredentials, exchange, introspect, sidOf } from './tokens.mjs';

const BUILD_CONCURRENCY = 32;
const CHECK_CONCURRENCY = 32;
const PRECHECK_SAMPLE = 50;
/** SLOWLOG entries read back: bench/lib/redis.mjs keeps this many. */
const SLOWLOG_READ = 1_024;

/** Every token must introspect active before a kill, or the after-check would prove nothing. */
async function precheck(sts, tokens) {
  const step = Math.max(1, Math.floor(tokens.length / PRECHECK_SAMPLE));
  const sample = tokens.filter((_, i) => i % step === 0);
  const active = await pool(sample.length, CHECK_CONCURRENCY, async (i) => (await introspect(sts, sample[i])).active);
  const dead = active.filter((a) => !a).length;
  if (dead) throw new Error(`kill precheck: ${dead} of ${sample.length} sampled tokens are not active before the kill`);
}

/**
 * How many of `tokens` still introspect active; introspections that fail (not 200) are counted
 * apart, since they prove neither state.
 */
async function stillActive(sts, tokens) {
  const states = await pool(tokens.length, CHECK_CONCURRENCY, async (i) => {
    const res = await request(sts.introspectUrl, { auth: basic(API, SECRET), body: { token: tokens[i] } });
    return res.status === 200 ? (res.body.active ? 'active' : 'inactive') : 'failed';
  });
  return { active: states.filter((s) => s === 'active').length, failed: states.filter((s) => s === 'failed').length };
}

/** The kill call, timed from request to response; a non-200 is recorded, not thrown, so the run goes on. */
async function timedKill(url, method, admin) {
  const t0 = performance.now();
  const res = await request(url, { method, auth: `Bearer ${admin}` });
  const ms = performance.now() - t0;
  return { ms, status: res.status, revoked: res.status === 200 ? res.body.revoked : `${res.status} ${res.body?.error ?? ''}`.trim() };
}

/** The slowest command Redis logged (SLOWLOG, threshold set at start) since `reset`: the kill script's own time. */
export async function slowest(redis) {
  const entries = await redis.slowlog('GET', SLOWLOG_READ);
  return entries.reduce((max, e) => Math.max(max, Number(e[2]) / 1000), 0);
}

/**
 * A tree of exactly `size` sessions: a root, ~√size children, the rest grandchildren spread across
 * the children (depth 2). Built through token exchange, `BUILD_CONCURRENCY` requests in flight.
 */
export async function buildTree(sts, size) {
  const root = await clientCredentials(sts, AGENTS.tree, 'read write');
  const level1 = Math.min(size - 1, Math.max(1, Math.round(Math.sqrt(size)) - 1));
  const children = await pool(level1, BUILD_CONCURRENCY, () => exchange(sts, AGENTS.tree, root, 'read write'));
  const level2 = size - 1 - level1;
  const grandchildren = await pool(level2, BUILD_CONCURRENCY, (i) => exchange(sts, AGENTS.tree, children[i % level1], 'read'));
  return { root, tokens: [root, ...children, ...grandchildren] };
}

/** AGENT_KILL_CLOCK_SKEW_MS (src/store) plus a margin. */
const KILL_MARKER_ALLOWANCE_MS = 1_100;

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)], max: s[s.length - 1] };
};
const r1 = (x) => Math.round(x * 10) / 10;

function summarize(scenario, size, runs) {
  const t = stats(runs.map((r) => r.ms));
  return {
    scenario,
    runs: runs.length,
    'kill ms (median)': r1(t.median),
    'kill ms (min)': r1(t.min),
    'kill ms (max)': r1(t.max),
    'redis cmd ms (max)': r1(Math.max(...runs.map((r) => r.redisMs))),
    'revoked (expected)': `${[...new Set(runs.map((r) => r.revoked))].join(' / ')} (${size})`,
    'active after kill': runs.reduce((n, r) => n + r.active, 0),
    'checks failed': runs.reduce((n, r) => n + r.failed, 0),
    'tokens checked': runs.reduce((n, r) => n + r.checked, 0),
    'build s (each)': r1(stats(runs.map((r) => r.buildS)).median),
    ok: runs.every((r) => r.status === 200 && r.revoked === size && r.active === 0 && r.failed === 0),
  };
}

/** Build, precheck, kill (timed), then introspect every token. */
async function killRun(sts, redis, build, kill) {
  const t0 = performance.now();
  const tokens = await build();
  const buildS = (performance.now() - t0) / 1000;
  await precheck(sts, tokens);
  await redis.slowlog('RESET');
  const { ms, status, revoked } = await kill(tokens);
  const redisMs = await slowest(redis);
  const after = await stillActive(sts, tokens);
  return { ms, status, revoked, redisMs, active: after.active, failed: after.failed, checked: tokens.length, buildS };
}

export async function killSubtree(sts, redis, { size, repeats }) {
  const admin = await adminToken(sts);
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    let rootToken;
    runs.push(await killRun(sts, redis, async () => {
      const { root, tokens } = await buildTree(sts, size);
      rootToken = root;
      return tokens;
    }, async () => {
      const sid = await sidOf(sts, rootToken);
      return timedKill(`${sts.adminUrl}/sessions/${encodeURIComponent(sid)}`, 'DELETE', admin);
    }));
  }
  return summarize(`kill subtree of ${size.toLocaleString('en-US')} sessions`, size, runs);
}

export async function killAgent(sts, redis, { size, repeats }) {
  const admin = await adminToken(sts);
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    // Requests that arrive within the kill's clock-skew allowance (1 s) after an agent-wide kill are
    // refused: the next fleet is built only once that has passed.
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, KILL_MARKER_ALLOWANCE_MS));
    runs.push(await killRun(sts, redis,
      () => pool(size, BUILD_CONCURRENCY, () => clientCredentials(sts, AGENTS.fleet, 'read')),
      () => timedKill(`${sts.adminUrl}/agents/${encodeURIComponent(AGENTS.fleet)}/revoke-sessions`, 'POST', admin)));
  }
  return summarize(`kill agent with ${size.toLocaleString('en-US')} sessions`, size, runs);
}
