// Where one request's CPU goes (issue 25): agent-sts, built, as users run it, under `node --cpu-prof`,
// loaded with one scenario; the samples taken during the measured run are summed by where the code
// lives (our modules by file, each dependency, node's own modules, GC, native) and divided by the
// requests served, so each row reads "µs of CPU per request". Redis' own time per request comes from
// INFO commandstats over the same run.
//   node bench/profile.mjs [introspect|introspect-child|client-credentials|exchange]...
//   (BENCH_PROFILE_S, BENCH_CONNECTIONS, BENCH_PROFILE_TOP: rows shown per scenario,
//   BENCH_PROFILE_FUNCTIONS=1: one row per function)
// Run `npm run build` first. Prints markdown tables; writes nothing.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AGENTS, API, SECRET, prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { basic, FORM, form } from './lib/http.mjs';
import { runLoad } from './lib/load.mjs';
import { startFloor } from './lib/baselines.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { commandStats, startRedis } from './lib/redis.mjs';
import { markdownTable } from './lib/report.mjs';
import { ccBody, clientCredentials, exchange, exchangeBody } from './lib/tokens.mjs';

const knob = (name, dflt) => Number(process.env[name] ?? dflt);
const seconds = knob('BENCH_PROFILE_S', 10);
const connections = knob('BENCH_CONNECTIONS', 50);
const top = knob('BENCH_PROFILE_TOP', 25);
/** BENCH_PROFILE_FUNCTIONS=1: rows per function (place, name, line) instead of per place. */
const byFunctionKnob = process.env.BENCH_PROFILE_FUNCTIONS === '1';
const SCENARIOS = ['introspect', 'introspect-child', 'client-credentials', 'exchange', 'floor', 'signing-floor'];
/** The baselines of bench/run.mjs, profiled the same way: what a request costs with nothing of ours. */
const BASELINES = { floor: 'floor.mjs', 'signing-floor': 'signing-floor.mjs' };
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : SCENARIOS;
for (const s of wanted) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
const log = (m) => process.stderr.write(`${m}\n`);

/** Where a frame's code lives: our file, a package, a node module, or V8's own buckets. */
function placeOf(frame) {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').replace(/\/.*$/, '');
  const ours = /\/(dist|packages\/gate\/dist)\/(.*)$/.exec(url);
  if (ours) return `${ours[1] === 'dist' ? '' : 'gate:'}${ours[2]}`;
  return url;
}

/** Self time (µs) per place for the samples taken between fromUs and toUs (the profile's own clock). */
function selfTimeByPlace(profile, fromUs, toUs, byFunction) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < fromUs || t > toUs) continue;
    const node = byId.get(profile.samples[i]);
    const place = byFunction ? `${placeOf(node.callFrame)} ${node.callFrame.functionName || '(anonymous)'}:${node.callFrame.lineNumber + 1}` : placeOf(node.callFrame);
    // attribute to the next sample's delta, as DevTools does
    const dt = profile.timeDeltas[i + 1] ?? 0;
    totals.set(place, (totals.get(place) ?? 0) + dt);
  }
  return totals;
}

const SAMPLE_INTERVAL_US = 250;

async function profileOne(scenario) {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-profile-'));
  const profDir = path.join(dir, 'prof');
  const redis = await startRedis(dir);
  const files = prepareFiles(dir);
  const profArgs = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${SAMPLE_INTERVAL_US}`];
  const sts = await startAgentSts({ redisUrl: redis.url, files, nodeArgs: BASELINES[scenario] ? [] : profArgs });
  const rsAuth = basic(API, SECRET);
  const root = await clientCredentials(sts, AGENTS.load, 'read write');
  const baseline = BASELINES[scenario] ? await startFloor(scenario, BASELINES[scenario], redis.url, profArgs) : undefined;
  const targets = {
    floor: () => ({ url: baseline.url, auth: rsAuth, body: { token: root } }),
    'signing-floor': () => ({ url: baseline.url, auth: rsAuth, body: {} }),
    introspect: () => ({ url: sts.introspectUrl, auth: rsAuth, body: { token: root } }),
    'introspect-child': async () => ({ url: sts.introspectUrl, auth: rsAuth, body: { token: await exchange(sts, AGENTS.sub, root, 'read') } }),
    'client-credentials': () => ({ url: sts.tokenUrl, auth: basic(AGENTS.load, SECRET), body: ccBody('read write') }),
    exchange: () => ({ url: sts.tokenUrl, auth: basic(AGENTS.sub, SECRET), body: exchangeBody(root, 'read') }),
  };
  const t = await targets[scenario]();
  const target = { url: t.url, method: 'POST', headers: { authorization: t.auth, 'content-type': FORM }, body: form(t.body) };
  const serverPid = baseline?.process.pid ?? sts.process.pid;
  await runLoad({ scenario, system: 'warm-up', target, serverPid, durationS: 2, connections });
  const statsBefore = await commandStats(redis.client);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const row = await runLoad({ scenario, system: 'agent-sts', target, serverPid, redisPid: redis.process.pid, durationS: seconds, connections });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const statsAfter = await commandStats(redis.client);
  await baseline?.process.stop();
  await sts.stop();
  await redis.close();
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8'));
  const served = row['req/s'] * seconds;
  const totals = selfTimeByPlace(profile, fromUs, toUs, byFunctionKnob);
  const idle = totals.get('(idle)') ?? 0;
  totals.delete('(idle)');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0);
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top).map(([place, us]) => ({
    'where (self time)': place, 'µs per request': (us / served).toFixed(1), share: `${((100 * us) / busy).toFixed(1)}%`,
  }));
  const redisRows = Object.entries(statsAfter).map(([cmd, s]) => {
    const calls = s.calls - (statsBefore[cmd]?.calls ?? 0);
    const usec = s.usec - (statsBefore[cmd]?.usec ?? 0);
    return { command: cmd, 'calls per request': (calls / served).toFixed(2), 'Redis µs per request': (usec / served).toFixed(1) };
  }).filter((r) => Number(r['calls per request']) >= 0.01);
  return { scenario, row, busyUsPerReq: busy / served, idleShare: idle / (idle + busy), rows, redisRows };
}

atExit(killAll);
for (const scenario of wanted) {
  log(`profiling ${scenario} (${seconds} s, ${connections} connections)`);
  const p = await profileOne(scenario);
  process.stdout.write(`\n### ${scenario}: ${p.row['req/s']} req/s, p99 ${p.row['p99 ms']} ms; ` +
    `main thread busy ${p.busyUsPerReq.toFixed(0)} µs per request (idle ${(100 * p.idleShare).toFixed(0)}%); process CPU ${p.row['CPU %']}%\n\n`);
  process.stdout.write(`${markdownTable(p.rows)}\n\n${markdownTable(p.redisRows)}\n`);
}

