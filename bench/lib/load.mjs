// One bounded load run: autocannon for a fixed duration and connection count, with the server's CPU
// and RSS (its whole process tree, from /proc) and redis-server's CPU measured over the same window.
import { clearInterval, clearTimeout, setInterval } from 'node:timers';
import autocannon from 'autocannon';
import { CLK_TCK, procSample, treeSample } from './procs.mjs';

const RSS_SAMPLE_MS = 250;
/** autocannon stops itself after `duration`; this is only the backstop if it ever did not. */
const HARD_STOP_GRACE_MS = 30_000;

function cannon(opts) {
  return new Promise((resolve, reject) => {
    let instance;
    const backstop = setTimeout(() => instance?.stop(), opts.duration * 1000 + HARD_STOP_GRACE_MS);
    instance = autocannon(opts, (err, result) => {
      clearTimeout(backstop);
      if (err) reject(err);
      else resolve(result);
    });
  });
}

/**
 * target: { url, method, headers, body }, and for per-request headers `setupRequest` (autocannon's
 * hook) with `prepare(seconds)` awaited before each phase (warm-up, measured run). Returns one table row. req/s counts 2xx responses only, so
 * a run that fails fast never looks fast.
 */
export async function runLoad({ scenario, system, target, serverPid, redisPid, durationS, connections, warmupS = 0 }) {
  const opts = {
    url: target.url,
    method: target.method ?? 'POST',
    headers: target.headers,
    body: target.body,
    connections,
    pipelining: 1,
    timeout: 10,
    ...(target.setupRequest
      ? { requests: [{ method: target.method ?? 'POST', path: new URL(target.url).pathname, headers: target.headers, body: target.body, setupRequest: target.setupRequest }] }
      : {}),
  };
  if (warmupS > 0) {
    await target.prepare?.(warmupS);
    await cannon({ ...opts, duration: warmupS });
  }
  await target.prepare?.(durationS);

  let rssMaxKb = 0;
  let procs = 0;
  const sample = () => {
    const s = treeSample(serverPid);
    rssMaxKb = Math.max(rssMaxKb, s.rssKb);
    procs = Math.max(procs, s.procs);
    return s;
  };
  const before = sample();
  const redisBefore = redisPid ? procSample(redisPid) : undefined;
  const genBefore = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  let r;
  try {
    r = await cannon({ ...opts, duration: durationS });
  } finally {
    clearInterval(timer);
  }
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = sample();
  const redisAfter = redisPid ? procSample(redisPid) : undefined;
  const gen = process.cpuUsage(genBefore);
  const pct = (ticks) => Math.round((ticks / CLK_TCK / wallS) * 100);

  return {
    system,
    scenario,
    'req/s': Math.round(r['2xx'] / r.duration),
    'p50 ms': r.latency.p50,
    'p99 ms': r.latency.p99,
    'non-2xx': r.non2xx,
    errors: r.errors + r.timeouts,
    'CPU %': pct(after.cpuTicks - before.cpuTicks),
    'RSS MB': Math.round(rssMaxKb / 1024),
    'redis CPU %': redisBefore && redisAfter ? pct(redisAfter.cpuTicks - redisBefore.cpuTicks) : '',
    'loadgen CPU %': Math.round(((gen.user + gen.system) / 1e6 / wallS) * 100),
    procs,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => [code, v.count])),
  };
}

/** Runs two loads at once for `durationS` (the soak), sampling the server's RSS every second. */
export async function runSoak({ targets, serverPid, durationS, connections }) {
  const rss = [];
  const t0 = Date.now();
  const sample = () => rss.push({ t: Math.round((Date.now() - t0) / 1000), mb: Math.round(treeSample(serverPid).rssKb / 1024) });
  sample();
  const timer = setInterval(sample, 1_000);
  let results;
  try {
    results = await Promise.all(targets.map((target) => cannon({
      url: target.url, method: target.method ?? 'POST', headers: target.headers, body: target.body,
      connections: Math.max(1, Math.floor(connections / targets.length)), duration: durationS, timeout: 10,
    })));
  } finally {
    clearInterval(timer);
  }
  sample();
  return {
    rss,
    loads: results.map((r, i) => ({
      scenario: targets[i].name, 'req/s': Math.round(r['2xx'] / r.duration), 'p50 ms': r.latency.p50, 'p99 ms': r.latency.p99,
      'non-2xx': r.non2xx, errors: r.errors + r.timeouts,
    })),
  };
}
