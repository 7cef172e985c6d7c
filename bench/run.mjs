// npm run bench: starts its own redis-server, agent-sts (dist/) and two baselines (oidc-provider,
// the node:http floor) on loopback, drives bounded load with autocannon (fixed duration and
// connections), measures kills and Redis memory per session, prints one table and prepends it to
// bench/RESULTS.md. Speed lives here, never in `npm test`. See bench/README.md.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENTS, API, ROOT, SECRET, prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { FORM, basic, expectStatus, form } from './lib/http.mjs';
import { measureAudit } from './lib/audit.mjs';
import { startFloor } from './lib/baselines.mjs';
import { killAgent, killSubtree } from './lib/kills.mjs';
import { agentKillToRefused, killToRefused } from './lib/push.mjs';
import { disableUnderLoad, visibilityDelay } from './lib/registry.mjs';
import { runLoad, runSoak } from './lib/load.mjs';
import { measureMemory } from './lib/memory.mjs';
import { metricsCost } from './lib/metrics.mjs';
import { pairedCost } from './lib/paired.mjs';
import { atExit, freePort, killAll, spawnOwned, waitUntil } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { machineFacts, prependResults, renderMarkdown, renderPlain } from './lib/report.mjs';
import { dpopProofs } from './lib/dpop.mjs';
import { depthCurve } from './lib/depth.mjs';
import { killGrowth } from './lib/kill-growth.mjs';
import { memoryGrowth } from './lib/memory-growth.mjs';
import { registryGrowth } from './lib/registry-growth.mjs';
import { verifyGrowth } from './lib/verify-growth.mjs';
import { writePlot } from './lib/plot.mjs';
import { ccBody, clientCredentials, exchange, exchangeBody } from './lib/tokens.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GROUPS = ['memory', 'sts', 'audit', 'metrics', 'ratelimit', 'workers', 'oidc', 'floor', 'rs', 'kills', 'push', 'registry', 'depth', 'kill-growth', 'memory-growth', 'registry-growth', 'verify-growth', 'soak'];
/** The growth curves' charts, linked from bench/RESULTS.md (each run overwrites them). */
const PLOTS = path.join(HERE, 'plots');

function intKnob(name, def, min, max) {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got ${raw})`);
  return v;
}

function sizesKnob(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const sizes = raw.split(',').map((v) => Number(v.trim()));
  if (sizes.some((v) => !Number.isInteger(v) || v < min || v > max)) throw new Error(`${name}: comma-separated integers from ${min} to ${max} (got ${raw})`);
  return sizes;
}

function readKnobs() {
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const g of only) if (!GROUPS.includes(g)) throw new Error(`BENCH_ONLY: unknown group "${g}" (groups: ${GROUPS.join(', ')})`);
  const workers = (process.env.BENCH_WORKERS ?? '1,2').split(',').map((s) => Number(s.trim()));
  if (workers.some((w) => !Number.isInteger(w) || w < 1 || w > 64)) throw new Error('BENCH_WORKERS: comma-separated integers from 1 to 64');
  return {
    durationS: intKnob('BENCH_DURATION_S', 10, 1, 3_600),
    connections: intKnob('BENCH_CONNECTIONS', 50, 1, 1_000),
    warmupS: intKnob('BENCH_WARMUP_S', 1, 0, 60),
    killRepeats: intKnob('BENCH_KILL_REPEATS', 3, 1, 20),
    pushKills: intKnob('BENCH_PUSH_KILLS', 200, 1, 10_000),
    subtreeSize: intKnob('BENCH_SUBTREE_SIZE', 1_000, 2, 100_000),
    agentSessions: intKnob('BENCH_AGENT_SESSIONS', 10_000, 1, 1_000_000),
    memoryN: intKnob('BENCH_MEMORY_N', 2_000, 10, 1_000_000),
    soakS: intKnob('BENCH_SOAK_S', 0, 0, 24 * 3_600),
    depthS: intKnob('BENCH_DEPTH_S', 5, 1, 600),
    killSizes: sizesKnob('BENCH_KILL_SIZES', [1_000, 10_000, 100_000], 2, 1_000_000),
    memorySizes: sizesKnob('BENCH_MEMORY_SIZES', [100_000, 1_000_000], 100, 10_000_000),
    verifySizes: sizesKnob('BENCH_VERIFY_SIZES', [1_000_000, 10_000_000], 1, 50_000_000),
    auditRecords: intKnob('BENCH_AUDIT_RECORDS', 1_000_000, 1, 10_000_000),
    rounds: intKnob('BENCH_ROUNDS', 3, 1, 20),
    pairs: intKnob('BENCH_PAIRS', 10, 1, 100),
    pairS: intKnob('BENCH_PAIR_S', 3, 1, 60),
    workers: [...new Set(workers)].filter((w) => w > 1),
    groups: new Set(only.length ? only : GROUPS),
    label: process.env.BENCH_LABEL ?? '',
    write: process.env.BENCH_RESULTS !== '0',
  };
}

const target = (name, url, auth, body) => ({ name, url, method: 'POST', headers: { authorization: auth, 'content-type': FORM }, body: form(body) });

/** One request before the load: the scenario must do what its name says (status 200, expected body). */
async function preflight(t, check) {
  const extraHeaders = t.proofs ? { dpop: await t.proofs.sign() } : {};
  const body = await expectStatus(200, t.url, { auth: t.headers.authorization, body: t.body, extraHeaders });
  if (!check(body)) throw new Error(`preflight of "${t.name}": unexpected body ${JSON.stringify(body)}`);
}
const isActive = (b) => b.active === true;
const isDpopBound = (b) => typeof b.access_token === 'string' && b.token_type === 'DPoP';
const isInactive = (b) => b.active === false;
const hasToken = (b) => typeof b.access_token === 'string';
const isServed = (b) => b.ok === true;

/** The round with the median req/s (the lower middle for an even count), with the spread of all rounds. */
function medianRow(rows) {
  const sorted = [...rows].sort((a, b) => a['req/s'] - b['req/s']);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return { ...median, rounds: rows.length, 'req/s min–max': `${sorted[0]['req/s']}–${sorted[sorted.length - 1]['req/s']}` };
}

const LOAD_COLUMNS = ['system', 'scenario', 'req/s', 'rounds', 'req/s min–max', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'CPU %', 'RSS MB', 'redis CPU %', 'loadgen CPU %', 'procs'];

async function main() {
  const knobs = readKnobs();
  const facts = machineFacts();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-sts-bench-'));
  atExit(() => rmSync(dir, { recursive: true, force: true }));
  const load = [];
  const byKey = {};
  const failures = [];
  const extra = { kills: [], push: [], registry: [], memory: undefined, soak: undefined, audit: undefined, auditCost: undefined, metrics: undefined, growth: [] };
  const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

  const redis = await startRedis(dir);
  const files = prepareFiles(dir);
  const sts = await startAgentSts({ redisUrl: redis.url, files });
  const redisPid = redis.process.pid;

  const measure = async ({ system, target: t, pid, check }, round) => {
    log(`${system}: ${t.name} (round ${round}/${knobs.rounds})`);
    await preflight(t, check);
    const row = await runLoad({
      scenario: t.name, system, target: t, serverPid: pid, redisPid,
      durationS: knobs.durationS, connections: knobs.connections, warmupS: knobs.warmupS,
    });
    if (row['non-2xx'] || row.errors) log(`  ${row['non-2xx']} non-2xx, ${row.errors} errors; status codes ${JSON.stringify(row.statusCodes)}`);
    return row;
  };
  const group = async (name, fn) => {
    if (!knobs.groups.has(name)) return;
    try {
      await fn();
    } catch (err) {
      failures.push({ group: name, error: err.message.split('\n').slice(0, 6).join(' / ') });
      log(`group ${name} failed: ${err.stack ?? err.message}`);
    }
  };

  // Tokens for the load scenarios: a root token of bench-agent and a child exchanged by bench-sub.
  const rsAuth = basic(API, SECRET);
  const root = await clientCredentials(sts, AGENTS.load, 'read write');
  const child = await exchange(sts, AGENTS.sub, root, 'read');
  const stsTargets = (s) => ({
    introRoot: target('introspect active (root token)', s.introspectUrl, rsAuth, { token: root }),
    introChild: target('introspect active (depth-1 token)', s.introspectUrl, rsAuth, { token: child }),
    introGarbage: target('introspect garbage', s.introspectUrl, rsAuth, { token: 'not-a-token-0123456789' }),
    cc: target('client_credentials', s.tokenUrl, basic(AGENTS.load, SECRET), ccBody('read write')),
    exchange: target('token exchange (1 level)', s.tokenUrl, basic(AGENTS.sub, SECRET), exchangeBody(root, 'read')),
  });
  const main = stsTargets(sts);
  const proofs = await dpopProofs(`${sts.issuer}/token`);
  main.ccDpop = { ...target('client_credentials with DPoP', sts.tokenUrl, basic(AGENTS.load, SECRET), ccBody('read write')), proofs, prepare: proofs.prepare, setupRequest: proofs.setupRequest };

  // Memory first: Redis holds next to nothing yet, so deltas are the new sessions' own.
  await group('memory', async () => {
    log(`memory: ${knobs.memoryN} root + ${knobs.memoryN} delegated sessions`);
    extra.memory = await measureMemory(sts, redis.client, { n: knobs.memoryN });
  });

  // Load scenarios are registered first and run afterwards, in rounds: every system stays up
  // (idle, it costs nothing) and each round runs every scenario once, introspection-like ones
  // first, so drift on a shared machine hits every system alike. The table shows each scenario's
  // median round.
  const scenarios = [];
  const stops = [];
  const add = (groupName, key, system, t, pid, check) => scenarios.push({ group: groupName, key, system, target: t, pid, check, issuance: check === hasToken || check === isDpopBound });

  await group('sts', async () => {
    const pid = sts.process.pid;
    add('sts', 'sts.introspect', 'agent-sts', main.introRoot, pid, isActive);
    add('sts', 'sts.introspectChild', 'agent-sts', main.introChild, pid, isActive);
    add('sts', 'sts.introspectGarbage', 'agent-sts', main.introGarbage, pid, isInactive);
    add('sts', 'sts.cc', 'agent-sts', main.cc, pid, hasToken);
    add('sts', 'sts.ccDpop', 'agent-sts', main.ccDpop, pid, isDpopBound);
    add('sts', 'sts.exchange', 'agent-sts', main.exchange, pid, hasToken);
  });

  // The same issuer, keys and Redis: tokens of the main instance are valid here too.
  const variant = async (name, env) => {
    const v = await startAgentSts({ name, redisUrl: redis.url, files, issuer: sts.issuer, env });
    stops.push(() => v.stop());
    return { v, t: stsTargets(v) };
  };

  await group('ratelimit', async () => {
    const { v, t } = await variant('agent-sts (rate limits on)', { STS_RATE_LIMIT_PER_IP: '1000000000', STS_RATE_LIMIT_PER_AGENT: '1000000000', STS_RATE_LIMIT_PER_RESOURCE_SERVER: '1000000000' });
    add('ratelimit', 'rl.introspect', v.name, t.introRoot, v.process.pid, isActive);
    add('ratelimit', 'rl.cc', v.name, t.cc, v.process.pid, hasToken);
  });

  await group('workers', async () => {
    for (const n of knobs.workers) {
      const { v, t } = await variant(`agent-sts (STS_WORKERS=${n})`, { STS_WORKERS: String(n) });
      add('workers', `w${n}.introspect`, v.name, t.introRoot, v.process.pid, isActive);
      add('workers', `w${n}.cc`, v.name, t.cc, v.process.pid, hasToken);
    }
  });

  await group('oidc', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const proc = spawnOwned('oidc-provider', process.execPath, [path.join(HERE, 'baselines/oidc-provider.mjs')], {
      cwd: ROOT, env: { ...process.env, PORT: String(port), REDIS_URL: redis.url, BENCH_SECRET: SECRET },
    });
    stops.push(() => proc.stop());
    await waitUntil(async () => (await fetch(`${base}/.well-known/openid-configuration`)).ok, { what: 'oidc-provider', child: proc });
    const meta = await expectStatus(200, `${base}/.well-known/openid-configuration`, { method: 'GET' });
    const ccReq = { grant_type: 'client_credentials', scope: 'read write' };
    const opaque = (await expectStatus(200, meta.token_endpoint, { auth: basic('bench-agent', SECRET), body: ccReq })).access_token;
    if (opaque.split('.').length === 3) throw new Error('oidc-provider issued a JWT; the baseline must use opaque tokens');
    const apiAuth = basic('bench-api', SECRET);
    add('oidc', 'oidc.introspect', 'oidc-provider', target('introspect active (root token)', meta.introspection_endpoint, apiAuth, { token: opaque }), proc.pid, isActive);
    add('oidc', 'oidc.introspectGarbage', 'oidc-provider', target('introspect garbage', meta.introspection_endpoint, apiAuth, { token: 'not-a-token-0123456789' }), proc.pid, isInactive);
    add('oidc', 'oidc.cc', 'oidc-provider', target('client_credentials', meta.token_endpoint, basic('bench-agent', SECRET), ccReq), proc.pid, hasToken);
  });

  await group('floor', async () => {
    const floor = await startFloor('floor', 'floor.mjs', redis.url);
    stops.push(() => floor.process.stop());
    add('floor', 'floor', 'floor', target('1 Redis GET + fixed JSON', floor.url, rsAuth, { token: root }), floor.process.pid, isActive);
    // The issuance floor: node:http + one ES256 sign + one SET, what client credentials is held to.
    const signing = await startFloor('signing floor', 'signing-floor.mjs', redis.url);
    stops.push(() => signing.process.stop());
    add('floor', 'signingFloor', 'signing floor', target('ES256 sign + 1 Redis SET + JSON', signing.url, rsAuth, {}), signing.process.pid, hasToken);
  });

  // A resource server behind agent-sts-gate/express (issue 11 §5): the same API with no auth and in each mode.
  await group('rs', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const proc = spawnOwned('rs-api', process.execPath, [path.join(HERE, 'baselines/rs-api.mjs')], {
      cwd: ROOT, env: { ...process.env, PORT: String(port), STS_ISSUER: sts.issuer, RS_AUDIENCE: API, RS_SECRET: SECRET },
    });
    stops.push(() => proc.stop());
    await waitUntil(async () => (await fetch(`${base}/none`, { method: 'POST' })).ok, { what: 'rs-api', child: proc });
    const bearer = `Bearer ${root}`;
    add('rs', 'rs.none', 'express API', target('no auth', `${base}/none`, bearer, {}), proc.pid, isServed);
    add('rs', 'rs.introspect', 'express API', target('requireToken introspect, no cache', `${base}/introspect`, bearer, {}), proc.pid, isServed);
    add('rs', 'rs.cached', 'express API', target('requireToken introspect, 60 s cache', `${base}/cached`, bearer, {}), proc.pid, isServed);
    add('rs', 'rs.local', 'express API', target('requireToken local (JWKS)', `${base}/local`, bearer, {}), proc.pid, isServed);
  });

  const ordered = [...scenarios.filter((sc) => !sc.issuance), ...scenarios.filter((sc) => sc.issuance)];
  const samples = new Map(ordered.map((sc) => [sc.key, []]));
  const failedGroups = new Set();
  for (let round = 1; round <= knobs.rounds; round++) {
    for (const sc of ordered) {
      if (failedGroups.has(sc.group)) continue;
      try {
        samples.get(sc.key).push(await measure(sc, round));
      } catch (err) {
        failedGroups.add(sc.group);
        failures.push({ group: sc.group, error: err.message.split('\n').slice(0, 6).join(' / ') });
        log(`group ${sc.group} failed: ${err.stack ?? err.message}`);
      }
    }
  }
  for (const stop of stops) await stop();
  for (const sc of scenarios) {
    const rows = samples.get(sc.key);
    if (!rows.length) continue;
    const row = medianRow(rows);
    load.push(row);
    byKey[sc.key] = row;
  }

  await group('kills', async () => {
    log(`kills: subtree of ${knobs.subtreeSize} ×${knobs.killRepeats}`);
    extra.kills.push(await killSubtree(sts, redis.client, { size: knobs.subtreeSize, repeats: knobs.killRepeats }));
    log(`kills: agent with ${knobs.agentSessions} sessions ×${knobs.killRepeats}`);
    extra.kills.push(await killAgent(sts, redis.client, { size: knobs.agentSessions, repeats: knobs.killRepeats }));
  });
  // Kill → refused at a resource server in local mode that hears kills by the revocation feed.
  await group('push', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const proc = spawnOwned('rs-feed', process.execPath, [path.join(HERE, 'baselines/rs-feed.mjs')], {
      cwd: ROOT, env: { ...process.env, PORT: String(port), STS_ISSUER: sts.issuer, RS_AUDIENCE: API, RS_SECRET: SECRET },
    });
    try {
      await waitUntil(async () => (await fetch(`${base}/feed`)).ok, { what: 'rs-feed', child: proc });
      log(`push: ${knobs.pushKills} kills, each until the resource server refuses`);
      extra.push.push(await killToRefused(sts, base, { kills: knobs.pushKills }));
      log(`push: agent-wide kill of ${knobs.agentSessions} sessions`);
      extra.push.push(await agentKillToRefused(sts, base, redis.client, { size: knobs.agentSessions }));
    } finally {
      await proc.stop();
    }
  });

  await group('registry', async () => {
    // a second instance on the same Redis: the disable goes to one, the load and the checks to the other
    const b = await startAgentSts({ name: 'agent-sts-b', redisUrl: redis.url, files, issuer: sts.issuer });
    log(`registry: disable with ${knobs.agentSessions} sessions under ${knobs.connections} connections`);
    extra.registry.push(await disableUnderLoad(sts, b, { size: knobs.agentSessions, connections: knobs.connections }));
    log('registry: change visibility on a second instance, 100 changes');
    extra.registry.push(await visibilityDelay(sts, b, { changes: 100 }));
    await b.stop();
  });

  // The audit trail and usage counting on (the defaults) against each off, in alternating pairs,
  // after the load rounds: each comparison gets two fresh instances (same Redis, issuer and keys)
  // with the same history, so neither side carries another scenario's heap or JIT state.
  await group('audit', async () => {
    const started = [];
    const fresh = async (name, env = {}) => {
      const v = await startAgentSts({ name, redisUrl: redis.url, files, issuer: sts.issuer, env });
      started.push(v);
      return { pid: v.process.pid, t: stsTargets(v) };
    };
    const pair = (key, what, setting, on, off) => ({ key, name: `${on.t[what].name}, ${setting}`, on: on.t[what], off: off.t[what], pidOn: on.pid, pidOff: off.pid });
    try {
      const [trailOn, trailOff] = [await fresh('agent-sts (audit trail on)'), await fresh('agent-sts (audit trail off)', { STS_AUDIT_TRAIL: 'off' })];
      const [usageOn, usageOff] = [await fresh('agent-sts (usage counting on)'), await fresh('agent-sts (usage counting off)', { STS_USAGE: 'off' })];
      for (const v of [trailOn, trailOff]) for (const t of [v.t.cc, v.t.exchange]) await preflight(t, hasToken);
      for (const v of [usageOn, usageOff]) await preflight(v.t.introRoot, isActive);
      extra.auditCost = await pairedCost({
        scenarios: [
          pair('cc', 'cc', 'audit trail', trailOn, trailOff),
          pair('exchange', 'exchange', 'audit trail', trailOn, trailOff),
          pair('introspect', 'introRoot', 'usage counting', usageOn, usageOff),
          // Calibration: the same build and settings on both sides (both defaults), so 'on / off'
          // shows how far the method strays when nothing differs.
          pair('aa', 'introRoot', 'the same build on both sides (A/A)', usageOn, trailOn),
        ],
        pairs: knobs.pairs, pairS: knobs.pairS, connections: knobs.connections, redisPid, log, tag: 'audit',
      });
    } finally {
      for (const v of started) await v.stop();
    }
  });

  // Two fresh instances alike but for STS_METRICS_PORT (same Redis, issuer and keys), after the load rounds.
  await group('metrics', async () => {
    const off = await startAgentSts({ name: 'agent-sts (metrics off)', redisUrl: redis.url, files, issuer: sts.issuer });
    const metricsUrl = `http://127.0.0.1:${await freePort()}/metrics`;
    const on = await startAgentSts({ name: 'agent-sts (metrics on)', redisUrl: redis.url, files, issuer: sts.issuer, env: { STS_METRICS_PORT: new URL(metricsUrl).port } });
    try {
      const [ton, toff] = [stsTargets(on), stsTargets(off)];
      const pids = { pidOn: on.process.pid, pidOff: off.process.pid };
      for (const t of [ton.introRoot, toff.introRoot]) await preflight(t, isActive);
      for (const t of [ton.cc, toff.cc]) await preflight(t, hasToken);
      extra.metrics = await metricsCost({
        scenarios: [
          { key: 'introspect', name: ton.introRoot.name, on: ton.introRoot, off: toff.introRoot, ...pids },
          { key: 'cc', name: ton.cc.name, on: ton.cc, off: toff.cc, ...pids },
        ],
        metricsUrl, pairs: knobs.pairs, pairS: knobs.pairS, connections: knobs.connections, redisPid, log,
      });
      const text = await (await fetch(metricsUrl)).text();
      log(`metrics: ${text.split('\n').filter((l) => /^agent_sts_(introspections|tokens_issued)_total\{/.test(l)).join(', ')}`);
      if (!/^agent_sts_introspections_total\{result="active"\} [1-9]/m.test(text)) throw new Error('metrics on: no introspection was counted');
    } finally {
      await on.stop();
      await off.stop();
    }
  });

  await group('audit', async () => {
    log(`audit: trail filled to ${knobs.auditRecords} records, then GET /admin/audit/verify`);
    extra.audit = await measureAudit(sts, redis.client, { n: knobs.auditRecords });
  });

  // Growth curves: each starts what it needs on its own Redis, after the load, and draws its chart.
  const growth = async (name, title, fn) => group(name, async () => {
    const g = await fn();
    // a smoke run (BENCH_RESULTS=0) leaves the charts of the run RESULTS.md shows
    if (knobs.write) {
      mkdirSync(PLOTS, { recursive: true });
      writePlot(path.join(PLOTS, `${name}.svg`), g.plot);
    }
    extra.growth.push({ name, title, ...g });
  });
  await growth('depth', 'Introspection by delegation depth (issue 25)', () => {
    log('depth: introspection at delegation depth 0, 1, 4, 8, 16');
    return depthCurve({ dir, rounds: knobs.rounds, seconds: knobs.depthS, connections: knobs.connections, log });
  });

  // Each growth group below runs on its own Redis and agent-sts: a kill of 100k sessions or a trail
  // of 10M records must not leave its weight on the other measurements.
  const ownInstance = async (name, env = {}) => {
    const own = path.join(dir, name);
    mkdirSync(own, { recursive: true });
    const r = await startRedis(own);
    const s = await startAgentSts({ name: `agent-sts (${name})`, redisUrl: r.url, files: prepareFiles(own), env });
    return { redis: r, sts: s, stop: async () => { await s.stop(); await r.close(); } };
  };
  await growth('kill-growth', 'Subtree kill by subtree size (issue 25)', async () => {
    log(`kill-growth: subtrees of ${knobs.killSizes.join(', ')} sessions`);
    const own = await ownInstance('kill-growth');
    try {
      return await killGrowth(own.sts, own.redis.client, { sizes: knobs.killSizes, log });
    } finally {
      await own.stop();
    }
  });
  await growth('memory-growth', 'Redis bytes per live session by sessions stored (issue 25; the audit record apart)', () => {
    log(`memory-growth: ${knobs.memorySizes.join(', ')} sessions through the store's create`);
    return memoryGrowth(null, { sizes: knobs.memorySizes, log });
  });
  await growth('registry-growth', 'Registry of 10,000 agents and 1,000 resource servers against one of ten (issue 25)', async () => {
    log('registry-growth: 11,009 registry entries against 9');
    const g = await registryGrowth({ dir: path.join(dir, 'registry-growth'), pairs: knobs.pairs, pairS: knobs.pairS, connections: knobs.connections, log });
    return { ...g, more: [{ title: `Registry growth: hot paths, large registry (on) / small (off), ${knobs.pairS} s runs, ${knobs.pairs} pairs each way`, rows: g.paired }] };
  });
  await growth('verify-growth', 'GET /admin/audit/verify by trail length (issue 25)', async () => {
    log(`verify-growth: trails of ${knobs.verifySizes.join(', ')} records`);
    const own = await ownInstance('verify-growth', { STS_AUDIT_MAX_RECORDS: String(2 * Math.max(...knobs.verifySizes)) });
    try {
      return await verifyGrowth(own.sts, own.redis.client, { sizes: knobs.verifySizes, log });
    } finally {
      await own.stop();
    }
  });

  await group('soak', async () => {
    if (knobs.soakS === 0) return;
    log(`soak: ${knobs.soakS}s of introspection + issuance at once`);
    extra.soak = await runSoak({ targets: [main.introRoot, main.cc], serverPid: sts.process.pid, durationS: knobs.soakS, connections: knobs.connections });
  });

  await sts.stop();
  await redis.close();

  const sections = buildSections({ load, byKey, extra, failures, knobs });
  const shownKnobs = {
    BENCH_DURATION_S: knobs.durationS, BENCH_CONNECTIONS: knobs.connections, BENCH_WARMUP_S: knobs.warmupS, BENCH_ROUNDS: knobs.rounds,
    BENCH_KILL_REPEATS: knobs.killRepeats, BENCH_PAIRS: knobs.pairs, BENCH_PAIR_S: knobs.pairS, BENCH_PUSH_KILLS: knobs.pushKills, BENCH_MEMORY_N: knobs.memoryN, BENCH_SOAK_S: knobs.soakS, BENCH_DEPTH_S: knobs.depthS, BENCH_KILL_SIZES: knobs.killSizes.join(','), BENCH_MEMORY_SIZES: knobs.memorySizes.join(','), BENCH_VERIFY_SIZES: knobs.verifySizes.join(','),
    BENCH_WORKERS: ['1', ...knobs.workers].join(','), BENCH_ONLY: [...knobs.groups].join(','),
    ...passthroughEnv(),
  };
  const report = { facts, knobs: shownKnobs, label: knobs.label, sections };
  process.stdout.write(`\n${renderPlain(report)}`);
  if (knobs.write) {
    const file = path.join(HERE, 'RESULTS.md');
    prependResults(file, renderMarkdown(report));
    log(`results prepended to ${path.relative(process.cwd(), file)}`);
  }
  return failures.length ? 1 : 0;
}

/** Settings in the environment that reach agent-sts unchanged (the bench sets only its own ones). */
const BENCH_SET = new Set(['NODE_ENV', 'PORT', 'HOST', 'STS_ISSUER', 'REDIS_URL', 'STS_REGISTRY', 'STS_KEYS_DIR', 'STS_LOG_LEVEL', 'STS_RATE_LIMIT_PER_IP', 'STS_RATE_LIMIT_PER_AGENT', 'STS_RATE_LIMIT_PER_RESOURCE_SERVER', 'STS_WORKERS']);
function passthroughEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(STS_|REDIS_|UV_|NODE_OPTIONS$)/.test(k) && !BENCH_SET.has(k)));
}

const x = (a, b) => (a && b ? `${(a['req/s'] / b['req/s']).toFixed(2)}×` : 'n/a');
const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED');

/** Issue 25's targets for the hot paths, against the floors and oidc-provider of the same run. */
function speedTargets(k) {
  const at = (a, b, min) => ({ measured: x(a, b), verdict: verdict(a && b ? a['req/s'] / b['req/s'] >= min : undefined) });
  const p99Ratio = k['sts.introspect'] && k.floor ? k['sts.introspect']['p99 ms'] / k.floor['p99 ms'] : undefined;
  return [
    { target: 'introspection ≥ 0.75× floor (issue 25)', ...at(k['sts.introspect'], k.floor, 0.75) },
    { target: "introspection p99 ≤ 1.5× the floor's p99 (issue 25)", measured: p99Ratio === undefined ? 'n/a' : `${p99Ratio.toFixed(2)}× (${k['sts.introspect']['p99 ms']} ms / ${k.floor['p99 ms']} ms)`, verdict: verdict(p99Ratio === undefined ? undefined : p99Ratio <= 1.5) },
    { target: 'introspection ≥ 4× oidc-provider (issue 25)', ...at(k['sts.introspect'], k['oidc.introspect'], 4) },
    { target: 'client credentials ≥ 0.75× signing floor (issue 25)', ...at(k['sts.cc'], k.signingFloor, 0.75) },
    { target: 'client credentials ≥ 1.3× oidc-provider (issue 25)', ...at(k['sts.cc'], k['oidc.cc'], 1.3) },
  ];
}

function buildSections({ load, byKey, extra, failures, knobs }) {
  const k = byKey;
  const sections = [{ title: `Load: ${knobs.durationS} s × ${knobs.connections} connections per scenario (req/s = 2xx responses per second; CPU % = server process tree, 100 = one core)`, rows: load, columns: LOAD_COLUMNS }];
  sections.push({
    title: 'Ratios (req/s)',
    rows: [
      { ratio: 'introspection: agent-sts / oidc-provider', value: x(k['sts.introspect'], k['oidc.introspect']), target: '≥ 2×' },
      { ratio: 'introspection: agent-sts / floor', value: x(k['sts.introspect'], k.floor), target: '≥ 0.6×' },
      { ratio: 'client credentials: agent-sts / oidc-provider', value: x(k['sts.cc'], k['oidc.cc']), target: '≥ 2×' },
      { ratio: 'client credentials: agent-sts / floor', value: x(k['sts.cc'], k.floor), target: '' },
      { ratio: 'client credentials: agent-sts / signing floor', value: x(k['sts.cc'], k.signingFloor), target: '≥ 0.75×' },
      { ratio: 'client credentials with DPoP / without', value: x(k['sts.ccDpop'], k['sts.cc']), target: '' },
      { ratio: 'token exchange: agent-sts / oidc-provider client credentials', value: x(k['sts.exchange'], k['oidc.cc']), target: '≥ 2×' },
      { ratio: 'introspection, rate limits on / off', value: x(k['rl.introspect'], k['sts.introspect']), target: '' },
      { ratio: 'express API: local mode / no auth', value: x(k['rs.local'], k['rs.none']), target: '≥ 0.5×' },
      { ratio: 'express API: introspect, no cache / agent-sts introspection', value: x(k['rs.introspect'], k['sts.introspect']), target: '≥ 0.9×' },
      { ratio: 'express API: introspect, 60 s cache / no auth', value: x(k['rs.cached'], k['rs.none']), target: '' },
      ...knobs.workers.map((n) => ({ ratio: `introspection, STS_WORKERS=${n} / 1`, value: x(k[`w${n}.introspect`], k['sts.introspect']), target: '' })),
      ...knobs.workers.map((n) => ({ ratio: `client credentials, STS_WORKERS=${n} / 1`, value: x(k[`w${n}.cc`], k['sts.cc']), target: '' })),
    ].filter((r) => r.value !== 'n/a'),
  });
  const ratio = (a, b) => (a && b ? a['req/s'] / b['req/s'] : undefined);
  const p99 = (row, ms) => (row ? row['p99 ms'] < ms : undefined);
  const atLeast = (r, min) => verdict(r === undefined ? undefined : r >= min);
  // The floor's own p99 says what this machine and load generator allow at all.
  const p99Text = (row) => (row ? `${row['p99 ms']} ms${k.floor ? ` (the floor's: ${k.floor['p99 ms']} ms)` : ''}` : 'n/a');
  const [subtree, agent] = extra.kills;
  const memMax = extra.memory ? Math.max(...extra.memory.rows.map((r) => Math.max(r['used_memory Δ/session B'], r['MEMORY USAGE Δ/session B']))) : undefined;
  const pairedText = (cost, key) => (cost?.ratios[key] === undefined ? 'n/a' : `${cost.ratios[key].toFixed(3)}× side by side (one after the other: ${cost.sequential[key].toFixed(3)}×)`);
  const trailMax = extra.memory ? Math.max(...extra.memory.rows.map((r) => r['audit record B (apart)'])) : undefined;
  const warmRss = extra.soak?.rss.filter((s) => s.t >= knobs.soakS * 0.1).map((s) => s.mb);
  const rssSpread = warmRss?.length ? Math.max(...warmRss) - Math.min(...warmRss) : undefined;
  sections.push({
    title: 'Targets (issue 4 §2, issue 25)',
    rows: [
      { target: 'introspection ≥ 2× oidc-provider', measured: x(k['sts.introspect'], k['oidc.introspect']), verdict: atLeast(ratio(k['sts.introspect'], k['oidc.introspect']), 2) },
      { target: 'introspection ≥ 0.6× floor', measured: x(k['sts.introspect'], k.floor), verdict: atLeast(ratio(k['sts.introspect'], k.floor), 0.6) },
      { target: `introspection p99 < 10 ms at ${knobs.connections} connections`, measured: p99Text(k['sts.introspect']), verdict: verdict(p99(k['sts.introspect'], 10)) },
      { target: 'client credentials ≥ 2× oidc-provider', measured: x(k['sts.cc'], k['oidc.cc']), verdict: atLeast(ratio(k['sts.cc'], k['oidc.cc']), 2) },
      ...knobs.workers.map((n) => ({ target: `client credentials ≥ 2× oidc-provider, agent-sts with STS_WORKERS=${n}`, measured: x(k[`w${n}.cc`], k['oidc.cc']), verdict: atLeast(ratio(k[`w${n}.cc`], k['oidc.cc']), 2) })),
      { target: 'token exchange ≥ 2× oidc-provider client credentials', measured: x(k['sts.exchange'], k['oidc.cc']), verdict: atLeast(ratio(k['sts.exchange'], k['oidc.cc']), 2) },
      ...[['cc', 'client credentials, audit trail', 0.9], ['exchange', 'token exchange, audit trail', 0.9], ['introspect', 'introspection, usage counting', 0.97]].map(([key, what, min]) => {
        const r = extra.auditCost?.ratios[key];
        return { target: `${what} on ≥ ${min}× off (issue 10 §3)`, measured: pairedText(extra.auditCost, key), verdict: atLeast(r, min) };
      }),
      ...['introspect', 'cc'].map((key) => {
        const r = extra.metrics?.ratios[key];
        return { target: `${key === 'cc' ? 'client credentials' : 'introspection'}, metrics on ≥ 0.97× off (issue 13 §4)`, measured: pairedText(extra.metrics, key), verdict: atLeast(r, 0.97) };
      }),
      { target: 'client credentials p99 < 20 ms', measured: p99Text(k['sts.cc']), verdict: verdict(p99(k['sts.cc'], 20)) },
      { target: 'token exchange p99 < 20 ms', measured: p99Text(k['sts.exchange']), verdict: verdict(p99(k['sts.exchange'], 20)) },
      { target: `kill subtree of ${knobs.subtreeSize} < 50 ms, all inactive after`, measured: subtree ? `${subtree['kill ms (max)']} ms max, ${subtree['active after kill']} active after, revoked ${subtree['revoked (expected)']}` : 'n/a', verdict: verdict(subtree ? subtree['kill ms (max)'] < 50 && subtree.ok : undefined) },
      { target: `kill agent with ${knobs.agentSessions} sessions < 1 s, all inactive after`, measured: agent ? `${agent['kill ms (max)']} ms max, ${agent['active after kill']} active after, revoked ${agent['revoked (expected)']}` : 'n/a', verdict: verdict(agent ? agent['kill ms (max)'] < 1_000 && agent.ok : undefined) },
      { target: 'kill → refused at a local-mode resource server p99 < 100 ms (issue 12 §4; aim < 20 ms)', measured: extra.push[0] ? `p50 ${extra.push[0]['kill→refused ms p50']} ms, p99 ${extra.push[0]['kill→refused ms p99']} ms, ${extra.push[0].missed} missed` : 'n/a', verdict: verdict(extra.push[0] ? extra.push[0]['kill→refused ms p99'] < 100 && extra.push[0].ok : undefined) },
      { target: 'resource server, local mode ≥ 0.5× the API with no auth (issue 11 §5)', measured: x(k['rs.local'], k['rs.none']), verdict: atLeast(ratio(k['rs.local'], k['rs.none']), 0.5) },
      { target: 'resource server, introspect without cache ≥ 0.9× agent-sts introspection (issue 11 §5)', measured: x(k['rs.introspect'], k['sts.introspect']), verdict: atLeast(ratio(k['rs.introspect'], k['sts.introspect']), 0.9) },
      { target: 'Redis memory per live session ≤ 1 KB', measured: memMax !== undefined ? `${memMax} B (worst of both methods and kinds), plus its audit record apart: ${trailMax} B` : 'n/a', verdict: verdict(memMax !== undefined ? memMax <= 1_024 : undefined) },
      ...speedTargets(k),
      ...extra.growth.flatMap((g) => g.targets),
      { target: 'service RSS flat across the soak', measured: rssSpread !== undefined ? `${rssSpread} MB between min and max after the first 10% of ${knobs.soakS} s` : 'n/a (BENCH_SOAK_S=0)', verdict: 'see soak' },
    ],
  });
  if (extra.auditCost) sections.push({ title: `Audit trail and usage counting on / off (issue 10 §3): ${knobs.pairS} s runs, ${knobs.pairs} pairs one after the other and ${knobs.pairs} side by side, fresh instances`, rows: extra.auditCost.rows, note: 'Each scenario: pairs one after the other (order alternating), then as many runs side by side (both loaded at once); targets are judged side by side (bench/README.md, *Paired comparisons*). The A/A row compares two instances with the same settings: its distance from 1.000× is the noise of the method in this run.' });
  if (extra.metrics) sections.push({ title: `Metrics on / off (issue 13 §4): ${knobs.pairS} s runs, ${knobs.pairs} pairs one after the other and ${knobs.pairs} side by side, the instance with metrics scraped every second`, rows: extra.metrics.rows });
  if (extra.audit) sections.push({ title: 'Audit trail: Redis bytes per record, and GET /admin/audit/verify over the whole trail (one call, streamed in pages)', rows: extra.audit });
  for (const row of extra.registry) sections.push({ title: 'Live registry (issue 9 §4)', rows: [row] });
  if (extra.push.length) {
    sections.push({ title: 'Revocation feed: kill → refused at a resource server in local mode (SSF poll, CAEP session-revoked; no introspection)', rows: [extra.push[0]] });
    if (extra.push[1]) sections.push({ title: 'Revocation feed: one agent-wide kill (1,000 sessions per SET)', rows: [extra.push[1]] });
  }
  if (extra.kills.length) sections.push({ title: 'Kills (each call timed from request to response; every killed token introspected right after)', rows: extra.kills });
  if (extra.memory) {
    const sample = extra.memory.sample.map((s) => `${s.type} ${s.bytes} B`).join(', ');
    sections.push({ title: 'Redis memory per live session (session + token + its share of the indexes; the token.issued audit record apart, bounded by the trail\'s retention)', rows: extra.memory.rows, note: `One root session's own keys (MEMORY USAGE, SAMPLES 0): ${sample || 'none found'}.` });
  }
  if (extra.soak) {
    // Growth while the process warms up is expected; "flat" is judged from 10% of the run onward.
    const rss = extra.soak.rss;
    const pct = (f) => rss[Math.min(rss.length - 1, Math.round((rss.length - 1) * f))];
    const warm = rss.filter((s) => s.t >= knobs.soakS * 0.1);
    const series = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].map((f) => `${pct(f).mb}`).join(' ');
    sections.push({
      title: `Soak: ${knobs.soakS} s of introspection and client credentials at once`,
      rows: extra.soak.loads,
      note: `agent-sts RSS (MB) before load ${rss[0].mb}; after 10% ${pct(0.1).mb}, middle ${pct(0.5).mb}, end ${pct(1).mb}; `
        + `from 10% on: min ${Math.min(...warm.map((s) => s.mb))}, max ${Math.max(...warm.map((s) => s.mb))}. Every 10%: ${series}.`,
    });
  }
  for (const g of extra.growth) {
    sections.push({ title: g.title, rows: g.rows, note: `![${g.title}](plots/${g.name}.svg)` });
    for (const more of g.more ?? []) sections.push(more);
  }
  if (failures.length) sections.push({ title: 'FAILED groups (their rows are missing above)', rows: failures });
  return sections;
}

main().then(
  (code) => {
    killAll();
    process.exit(code);
  },
  (err) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    killAll();
    process.exit(1);
  },
);
