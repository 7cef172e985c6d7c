// Cost as the registry grows (issue 25): agent-sts with the bench registry (about ten entries)
// against one with the same entries plus 10,000 agents and 1,000 resource servers, each on its own
// redis-server. Measures startup (seeding the store from the file, then a second instance on the
// already seeded store), RSS and Redis memory; throughput of introspection and client credentials
// in paired runs (bench/lib/paired.mjs: large = on, small = off); the delay until a registry change
// made on one instance is visible on a second (bench/lib/registry.mjs); and the slowest answer of an
// idle second instance in the seconds after one change, when it re-reads the whole registry.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { hashSecret } from '../../dist/clients/secret.js';
import { AGENTS, API, SECRET, benchRegistry, startAgentSts } from './agent-sts.mjs';
import { basic, expectStatus, FORM, form, request } from './http.mjs';
import { pairedCost } from './paired.mjs';
import { treeSample } from './procs.mjs';
import { startRedis, usedMemory } from './redis.mjs';
import { manageToken, measureVisibility, percentile } from './registry.mjs';
import { ccBody, clientCredentials } from './tokens.mjs';

const EXTRA_AGENTS = 10_000;
const EXTRA_SERVERS = 1_000;
/** Each extra resource server offers these; each extra agent is entitled at 1–3 servers with 1–3 of them. */
const SERVER_SCOPES = ['read', 'write', 'admin', 'audit'];
const MAX_PER_AGENT = 3;
const TTL_S = 3_600;
/** Fixed seed: both runs of a comparison and every run of the benchmark build the same registry. */
const SEED = 25;
/** Throughput of the large registry must be at least this share of the small one's (side by side). */
const MIN_RATIO = 0.95;
/** Slack allowed on the visibility p99: the 3rd-slowest of 300 samples, read at 0.1 ms. */
const P99_SLACK_MS = 1;
/** Visibility runs per registry size (alternating sizes); the target takes the p99 of their delays pooled. */
const VISIBILITY_RUNS = 3;
/** After one change, an idle second instance is asked back to back for this long: the window in which it used to re-read the whole registry (its 1 s version poll). */
const HICCUP_WINDOW_MS = 2_500;
/** SLOWLOG entries read after the window (Redis logs commands over 1 ms here, bench/lib/redis.mjs). */
const SLOWLOG_READ = 128;

/** mulberry32: a small seeded PRNG, so the large registry is the same on every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Distinct picks, 1..max of them. */
function pickSome(list, max, rnd) {
  const n = 1 + Math.floor(rnd() * max);
  const out = new Set();
  while (out.size < Math.min(n, list.length)) out.add(list[Math.floor(rnd() * list.length)]);
  return [...out];
}

/** The bench registry plus `agents` agents and `servers` resource servers (one secret hash, computed once: hashing is slow on purpose). */
function largeRegistry({ agents = EXTRA_AGENTS, servers = EXTRA_SERVERS } = {}) {
  const base = benchRegistry();
  const secretHash = hashSecret(SECRET);
  const rnd = prng(SEED);
  const serverIds = Array.from({ length: servers }, (_, i) => `https://rs-${String(i).padStart(4, '0')}.growth.bench.test`);
  const extraServers = serverIds.map((id) => ({ id, secretHash, scopes: SERVER_SCOPES }));
  const extraAgents = Array.from({ length: agents }, (_, i) => ({
    id: `growth-agent-${String(i).padStart(5, '0')}`,
    secretHash,
    audiences: Object.fromEntries(pickSome(serverIds, MAX_PER_AGENT, rnd).map((rs) => [rs, pickSome(SERVER_SCOPES, MAX_PER_AGENT, rnd)])),
    maxTokenTtlSeconds: TTL_S,
  }));
  return { agents: [...base.agents, ...extraAgents], resourceServers: [...base.resourceServers, ...extraServers] };
}

const entries = (reg) => reg.agents.length + reg.resourceServers.length;

function writeFiles(dir, registry) {
  mkdirSync(path.join(dir, 'keys'), { recursive: true });
  const file = path.join(dir, 'registry.json');
  writeFileSync(file, JSON.stringify(registry), { mode: 0o600 });
  return { registry: file, keys: path.join(dir, 'keys') };
}

const msSince = (t0) => Math.round(performance.now() - t0);

/** One registry size: its Redis, instance A (first boot, seeds the store) and B (boots on the seeded store). */
async function side(dir, label, registry) {
  mkdirSync(dir, { recursive: true });
  const files = writeFiles(dir, registry);
  const redis = await startRedis(dir);
  let t0 = performance.now();
  const a = await startAgentSts({ name: `agent-sts (${label}) A`, redisUrl: redis.url, files });
  const bootA = msSince(t0);
  t0 = performance.now();
  const b = await startAgentSts({ name: `agent-sts (${label}) B`, redisUrl: redis.url, files, issuer: a.issuer });
  const bootB = msSince(t0);
  return { label, entries: entries(registry), files, redis, a, b, bootA, bootB };
}

const target = (name, url, auth, body) => ({ name, url, method: 'POST', headers: { authorization: auth, 'content-type': FORM }, body: form(body) });

async function targetsOf(s) {
  const root = await clientCredentials(s.a, AGENTS.load, 'read write');
  const intro = target('introspect active (root token)', s.a.introspectUrl, basic(API, SECRET), { token: root });
  const cc = target('client_credentials', s.a.tokenUrl, basic(AGENTS.load, SECRET), ccBody('read write'));
  if ((await expectStatus(200, intro.url, { auth: intro.headers.authorization, body: intro.body })).active !== true) throw new Error(`${s.label}: root token not active`);
  return { intro, cc };
}

/**
 * One change on `a` (a description update of bench-sub), then introspections sent to `b` back to
 * back for HICCUP_WINDOW_MS: their slowest answer (failed ones included) and how many failed show
 * what re-reading the whole registry (once the version poll sees the change) costs b; Redis'
 * slowest command in the window (SLOWLOG) tells Redis' share from b's own.
 */
async function reloadHiccup(s, token) {
  const admin = await manageToken(s.a);
  const change = { auth: `Bearer ${admin}`, contentType: 'application/merge-patch+json', method: 'PATCH', body: JSON.stringify({ description: `bench ${Date.now()}` }) };
  await s.redis.client.slowlog('RESET');
  const res = await request(`${s.a.adminUrl}/agents/${encodeURIComponent(AGENTS.sub)}`, change);
  if (res.status !== 200) throw new Error(`${s.label}: PATCH agent answered ${res.status} ${JSON.stringify(res.body)}`);
  const times = [];
  let failed = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < HICCUP_WINDOW_MS) {
    const t = performance.now();
    const r = await request(s.b.introspectUrl, { auth: basic(API, SECRET), body: { token } });
    times.push(performance.now() - t);
    if (r.status !== 200 || r.body.active !== true) failed++;
  }
  times.sort((x, y) => x - y);
  const slow = await s.redis.client.slowlog('GET', SLOWLOG_READ);
  const redisMaxMs = Math.max(0, ...slow.map((e) => Number(e[2]) / 1000));
  return { requests: times.length, failed, p50: times[Math.floor(times.length / 2)], max: times.at(-1), redisMaxMs };
}

const verdict = (ok) => (ok ? 'met' : 'MISSED');

/**
 * dir: a temp dir (two sub dirs are made in it); pairs, pairS, connections: as for pairedCost;
 * changes: registry changes timed for visibility. Starts and stops its own Redis servers and
 * instances. Returns { rows (one per registry size), paired (pairedCost's rows), targets, plot }.
 */
export async function registryGrowth({ dir, pairs = 10, pairS = 3, connections = 50, changes = 100, log = () => {} }) {
  const t0 = performance.now();
  const big = largeRegistry();
  const buildMs = msSince(t0);
  const sides = [];
  try {
    log(`registry-growth: small registry (${entries(benchRegistry())} entries)`);
    sides.push(await side(path.join(dir, 'small'), 'small', benchRegistry()));
    log(`registry-growth: large registry (${entries(big)} entries, built in ${buildMs} ms)`);
    sides.push(await side(path.join(dir, 'large'), 'large', big));
    const [small, large] = sides;
    for (const s of sides) log(`registry-growth: ${s.label}: boot A ${s.bootA} ms, B ${s.bootB} ms`);

    const [ts, tl] = [await targetsOf(small), await targetsOf(large)];
    const pids = { pidOn: large.a.process.pid, pidOff: small.a.process.pid };
    const cost = await pairedCost({
      scenarios: [
        { key: 'introspect', name: `${ts.intro.name}, ${entries(big).toLocaleString('en-US')} vs ${small.entries} registry entries`, on: tl.intro, off: ts.intro, ...pids },
        { key: 'cc', name: `${ts.cc.name}, ${entries(big).toLocaleString('en-US')} vs ${small.entries} registry entries`, on: tl.cc, off: ts.cc, ...pids },
      ],
      pairs, pairS, connections, log, tag: 'registry-growth',
    });

    // Repeated, the sizes alternating, and judged on the runs' delays pooled: one run's p99 is its
    // 2nd-slowest of 100 and moved by ±3 ms between runs of the same build.
    const visible = { small: [], large: [] };
    for (let r = 0; r < VISIBILITY_RUNS; r++) {
      for (const s of sides) {
        log(`registry-growth: ${s.label}: ${changes} changes on A, timed until visible on B (run ${r + 1}/${VISIBILITY_RUNS})`);
        visible[s.label].push(await measureVisibility(s.a, s.b, { changes }));
      }
    }
    const pooled = (l) => visible[l].flatMap((v) => v.delays).sort((x, y) => x - y);
    const runP99 = (l) => visible[l].map((v) => percentile([...v.delays].sort((x, y) => x - y), 99)?.toFixed(1) ?? 'n/a');
    const hiccup = {};
    for (const s of sides) hiccup[s.label] = await reloadHiccup(s, await clientCredentials(s.a, AGENTS.load, 'read'));

    const p99 = (l) => percentile(pooled(l), 99) ?? Infinity;
    const missed = (l) => visible[l].reduce((n, v) => n + v.missed, 0);
    const sizeRows = [];
    for (const s of sides) {
      sizeRows.push({
        registry: s.label,
        'entries': s.entries,
        'boot A ms (seeds the store)': s.bootA,
        'boot B ms (store already seeded)': s.bootB,
        'RSS A MB (idle, after load)': Math.round(treeSample(s.a.process.pid).rssKb / 1024),
        'RSS B MB (idle)': Math.round(treeSample(s.b.process.pid).rssKb / 1024),
        'redis used_memory MB': ((await usedMemory(s.redis.client)) / 2 ** 20).toFixed(1),
        [`visible on B p50 ms (${VISIBILITY_RUNS} runs pooled)`]: (percentile(pooled(s.label), 50) ?? Infinity).toFixed(1),
        [`visible on B p99 ms (${VISIBILITY_RUNS} runs pooled)`]: p99(s.label).toFixed(1),
        'visible on B p99 ms (each run)': runP99(s.label).join(' / '),
        'visible on B max ms': (pooled(s.label).at(-1) ?? Infinity).toFixed(1),
        'visible missed': missed(s.label),
        [`B introspect max ms, ${HICCUP_WINDOW_MS / 1000} s after 1 change`]: hiccup[s.label].max.toFixed(1),
        'B introspect p50 ms (same)': hiccup[s.label].p50.toFixed(1),
        'B introspect not 200 (same)': hiccup[s.label].failed,
        'redis slowest cmd ms (same)': hiccup[s.label].redisMaxMs.toFixed(1),
      });
    }

    const ratioText = (key) => `${cost.ratios[key].toFixed(3)}× side by side (one after the other: ${cost.sequential[key].toFixed(3)}×)`;
    const targets = [
      ...[['introspect', 'introspection of a root token'], ['cc', 'client credentials']].map(([key, what]) => ({
        target: `${what}, ${entries(big).toLocaleString('en-US')} entries ≥ ${MIN_RATIO}× ${small.entries} entries`,
        measured: ratioText(key),
        verdict: verdict(cost.ratios[key] >= MIN_RATIO),
      })),
      {
        target: `change visible on a second instance: p99 with ${entries(big).toLocaleString('en-US')} entries ≤ p99 with ${small.entries} (+${P99_SLACK_MS} ms slack; ${VISIBILITY_RUNS} runs of ${changes} changes pooled)`,
        measured: `${p99('large').toFixed(1)} vs ${p99('small').toFixed(1)} ms (each run's: ${runP99('large').join(', ')} vs ${runP99('small').join(', ')}; missed ${missed('large')} / ${missed('small')})`,
        verdict: verdict(missed('large') === 0 && p99('large') <= p99('small') + P99_SLACK_MS),
      },
    ];
    const reqs = (key, col) => cost.rows[['introspect', 'cc'].indexOf(key)][col];
    const plot = {
      title: `req/s as the registry grows (one run, ${new Date().toISOString().slice(0, 10)}, one after the other, mean)`,
      xLabel: 'registry entries (agents + resource servers)',
      yLabel: 'req/s',
      logX: true,
      series: [['introspect', 'introspection (root token)'], ['cc', 'client credentials']].map(([key, name]) => ({
        name, points: [[small.entries, reqs(key, 'req/s off (mean)')], [large.entries, reqs(key, 'req/s on (mean)')]],
      })),
    };
    return { rows: sizeRows, paired: cost.rows, targets, plot };
  } finally {
    for (const s of sides) {
      await s.b.stop();
      await s.a.stop();
      await s.redis.close();
    }
  }
}
