// How a subtree kill's cost grows with the subtree (issue 25, "cost as the work grows"): for each
// size, a tree of exactly that many sessions (root by client credentials, ~√size children, the rest
// grandchildren, all by token exchange), killed with DELETE /admin/sessions/:root, timed from request
// to response. Right after, EVERY killed token is introspected (must be inactive) and the `revoked`
// count checked. Redis' own time for the kill: the scripts' time (INFO commandstats, EVAL/EVALSHA usec
// delta over the call) and the slowest single command (SLOWLOG). How long Redis could not answer
// anyone else: a second connection PINGs every PROBE_EVERY_MS during the call; its slowest reply.
import { performance } from 'node:perf_hooks';
import { API, SECRET } from './agent-sts.mjs';
import { redisKeys } from '../../dist/store/keys.js';
import { basic, pool, request } from './http.mjs';
import { buildTree, slowest } from './kills.mjs';
import { commandStats } from './redis.mjs';
import { adminToken, sidOf } from './tokens.mjs';

const CHECK_CONCURRENCY = 64;
const PROBE_EVERY_MS = 5;
const RETRY_PAUSE_MS = 2_000;
/** Backstop on the ping probe: it stops with the kill call, or after this long whatever happens. */
const PROBE_MAX_MS = 120_000;
const PER = 1_000;
/** Targets of issue 25: kill time by subtree size (ms). */
const TARGET_MS = { 1_000: 50, 10_000: 500, 100_000: 5_000 };
/** "Linear": the per-1k cost at the largest size within this factor of the one at 10k. */
const LINEAR_FACTOR = 2;
const SCRIPT_COMMANDS = ['evalsha', 'eval'];
/** agent-sts' default REDIS_KEY_PREFIX (startAgentSts sets none). */
const KEYS = redisKeys('sts:');
/** One small kill first, not reported: the first kill of a process pays for JIT and script loading. */
const WARMUP_SIZE = 50;

const r1 = (x) => Math.round(x * 10) / 10;
const answered = (r) => r.status === 200 && r.revoked === r.size;
const targetFor = (size) => TARGET_MS[size] ?? (size * TARGET_MS[10_000]) / 10_000;

async function stateOf(sts, token) {
  try {
    const res = await request(sts.introspectUrl, { auth: basic(API, SECRET), body: { token } });
    return res.status === 200 ? (res.body.active ? 'active' : 'inactive') : 'failed';
  } catch {
    return 'failed'; // a dropped connection proves neither state
  }
}

/**
 * Every token introspected: how many are still active, and how many checks failed (not 200, or no
 * answer) even after one more try each, RETRY_PAUSE_MS later; `failedFirst` counts the first pass.
 */
async function stillActive(sts, tokens) {
  const states = await pool(tokens.length, CHECK_CONCURRENCY, (i) => stateOf(sts, tokens[i]));
  const failedAt = states.flatMap((s, i) => (s === 'failed' ? [i] : []));
  if (failedAt.length) {
    await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
    const again = await pool(failedAt.length, CHECK_CONCURRENCY, (j) => stateOf(sts, tokens[failedAt[j]]));
    failedAt.forEach((i, j) => { states[i] = again[j]; });
  }
  return { active: states.filter((s) => s === 'active').length, failed: states.filter((s) => s === 'failed').length, failedFirst: failedAt.length };
}

/** PINGs on its own connection until `stop()`; resolves to the slowest reply (ms) and how many were sent. */
function pingProbe(redis) {
  const conn = redis.duplicate();
  conn.on('error', () => {});
  let running = true;
  const t0 = performance.now();
  const done = (async () => {
    let max = 0;
    let pings = 0;
    while (running && performance.now() - t0 < PROBE_MAX_MS) {
      const p0 = performance.now();
      await conn.ping();
      max = Math.max(max, performance.now() - p0);
      pings += 1;
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    }
    conn.disconnect();
    return { max, pings };
  })();
  return { stop: () => { running = false; return done; } };
}

const scriptUsec = (stats) => SCRIPT_COMMANDS.reduce((n, c) => n + (stats[c]?.usec ?? 0), 0);

/** Scripts that answered an error (INFO commandstats failed_calls): a kill's follow-up steps failing shows here. */
async function failedScripts(redis) {
  const text = await redis.info('commandstats');
  let n = 0;
  for (const m of text.matchAll(/cmdstat_(evalsha|eval):.*failed_calls=(\d+)/g)) n += Number(m[2]);
  return n;
}

/**
 * What the kill left for its announcement once it had answered (read after the token check, by then
 * past the announcer's grace and sweeps): the tree's outbox entries and the kill marks still listed as
 * unannounced. Both are 0 when the kill's outcome was recorded, announced and settled.
 */
async function leftUnannounced(redis, rootSid) {
  return { outbox: await redis.hlen(KEYS.outbox(rootSid)), marks: await redis.zcard(KEYS.unannounced()) };
}

async function killOnce(sts, redis, admin, size, log) {
  const t0 = performance.now();
  const { root, tokens } = await buildTree(sts, size);
  const buildS = (performance.now() - t0) / 1000;
  const sid = await sidOf(sts, root);
  await redis.slowlog('RESET');
  const before = await commandStats(redis);
  const failedBefore = await failedScripts(redis);
  const probe = pingProbe(redis);
  await new Promise((r) => setTimeout(r, PROBE_EVERY_MS * 4)); // the probe is connected and pinging
  const k0 = performance.now();
  const res = await request(`${sts.adminUrl}/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE', auth: `Bearer ${admin}` });
  const killMs = performance.now() - k0;
  const ping = await probe.stop();
  const after = await commandStats(redis);
  const redisMs = { script: (scriptUsec(after) - scriptUsec(before)) / 1000, slowest: await slowest(redis) };
  const revoked = res.status === 200 ? res.body.revoked : `${res.status} ${res.body?.error ?? ''}`.trim();
  log?.(`kill-growth ${size}: built in ${r1(buildS)} s, kill ${r1(killMs)} ms (status ${res.status}, revoked ${revoked}), checking ${tokens.length} tokens`);
  const c0 = performance.now();
  const check = await stillActive(sts, tokens);
  const checkS = (performance.now() - c0) / 1000;
  const left = await leftUnannounced(redis, sid);
  const alive = !sts.process.exited();
  if (!alive) log?.(`kill-growth ${size}: agent-sts exited (code ${sts.process.exitCode}, signal ${sts.process.signalCode}):\n${sts.process.stderrTail()}`);
  const failedScriptCalls = (await failedScripts(redis)) - failedBefore;
  return { size, buildS, killMs, status: res.status, revoked, redisMs, pingMaxMs: ping.max, ...check, checkS, left, failedScriptCalls, alive };
}

function row(r) {
  const target = targetFor(r.size);
  return {
    sessions: r.size,
    'build s': r1(r.buildS),
    'kill ms': r1(r.killMs),
    'ms per 1k sessions': r1((r.killMs * PER) / r.size),
    'target ms': target,
    status: r.status,
    revoked: r.revoked,
    'active after kill': r.active,
    'checks failed (first pass)': `${r.failed} (${r.failedFirst})`,
    'agent-sts alive after': r.alive,
    'check s': r1(r.checkS),
    'redis script ms (sum)': r1(r.redisMs.script),
    'redis slowest cmd ms': r1(r.redisMs.slowest),
    'redis blocked ms (max PING)': r1(r.pingMaxMs),
    'outbox left (entries)': r.left.outbox,
    'unannounced marks left (whole Redis)': r.left.marks,
    'failed scripts (kill → end of check)': r.failedScriptCalls,
    ok: r.status === 200 && r.revoked === r.size && r.active === 0 && r.failed === 0 && r.alive,
  };
}

function targetRows(runs) {
  const out = runs.map((r) => ({
    target: `kill subtree of ${r.size.toLocaleString('en-US')} < ${targetFor(r.size).toLocaleString('en-US')} ms, every token inactive after, revoked = ${r.size.toLocaleString('en-US')}`,
    measured: `${r1(r.killMs)} ms, status ${r.status}, revoked ${r.revoked}, ${r.active} active after (${r.failed} checks failed)`,
    verdict: r.killMs < targetFor(r.size) && r.status === 200 && r.revoked === r.size && r.active === 0 && r.failed === 0 ? 'met' : 'MISSED',
  }));
  const sorted = [...runs].sort((a, b) => a.size - b.size);
  const ref = sorted.find((r) => r.size === 10_000) ?? sorted.at(-2);
  const big = sorted.at(-1);
  if (ref && big && ref !== big) {
    const perK = (r) => (r.killMs * PER) / r.size;
    const redisPerK = (r) => (r.redisMs.script * PER) / r.size;
    const ratio = perK(big) / perK(ref);
    // A kill that did not answer 200 with its count timed an error, not the kill: no figure to compare.
    const both = [ref, big].every(answered);
    out.push({
      target: `linear: ms per 1k sessions at ${big.size.toLocaleString('en-US')} ≤ ${LINEAR_FACTOR}× that at ${ref.size.toLocaleString('en-US')}`,
      measured: `${both ? '' : 'not comparable (a kill failed); '}${r1(perK(big))} vs ${r1(perK(ref))} ms per 1k (${ratio.toFixed(2)}×); Redis script time ${r1(redisPerK(big))} vs ${r1(redisPerK(ref))} ms per 1k (${(redisPerK(big) / redisPerK(ref)).toFixed(2)}×)`,
      verdict: both && ratio <= LINEAR_FACTOR ? 'met' : 'MISSED',
    });
  }
  return out;
}

/**
 * One kill per size, smallest first, on a running agent-sts and its Redis (an ioredis client).
 * Returns { rows, targets, plot }.
 */
export async function killGrowth(sts, redisClient, { sizes = [1_000, 10_000, 100_000], log } = {}) {
  const admin = await adminToken(sts);
  await killOnce(sts, redisClient, admin, WARMUP_SIZE);
  const runs = [];
  for (const size of [...sizes].sort((a, b) => a - b)) runs.push(await killOnce(sts, redisClient, admin, size, log));
  const rows = runs.map(row);
  const plot = {
    title: `Subtree kill: DELETE /admin/sessions/:root, one run per size (${new Date().toISOString().slice(0, 10)})`,
    xLabel: 'sessions in the subtree',
    yLabel: 'kill ms (request to response)',
    logX: true,
    logY: true,
    series: [
      { name: 'kill ms (200, full count)', points: runs.filter(answered).map((r) => [r.size, r.killMs]) },
      { name: 'kill ms, answered with an error', points: runs.filter((r) => !answered(r)).map((r) => [r.size, r.killMs]) },
      { name: 'Redis script ms', points: runs.map((r) => [r.size, Math.max(r.redisMs.script, 0.01)]) },
    ],
    targets: [{ name: 'target (50 ms per 1k)', points: runs.map((r) => [r.size, targetFor(r.size)]) }],
  };
  return { rows, targets: targetRows(runs), plot };
}
