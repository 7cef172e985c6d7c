// The cost of STS_METRICS_PORT (issue 13 §4): two instances alike but for metrics, measured in short
// back-to-back pairs whose order alternates, so the drift of a shared machine (±30% between
// 10-second runs here) falls on both sides of each pair alike. The instance with metrics is
// scraped every METRICS_SCRAPE_MS meanwhile, as Prometheus would (more often than it usually does).
import { clearInterval, setInterval } from 'node:timers';
import { runLoad } from './load.mjs';

const METRICS_SCRAPE_MS = 1_000;

/** Scrapes `url` every METRICS_SCRAPE_MS until the returned stop function is called. */
function scraping(url) {
  const timer = setInterval(() => void fetch(url).then((r) => r.text(), () => {}), METRICS_SCRAPE_MS);
  return () => clearInterval(timer);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
/** Server CPU time per 2xx response of one run, in µs. */
const cpuPerRequest = (row) => ((row['CPU %'] / 100) * 1e6) / row['req/s'];

/**
 * scenarios: [{ key, name, on, off, pidOn, pidOff }] (on/off: load targets). Returns one row per
 * scenario: req/s summed over the pairs on each side, their ratio, the median of the per-pair
 * ratios, and CPU µs per request on each side (medians); and each scenario's on / off ratio of the sums.
 */
export async function metricsCost({ scenarios, metricsUrl, pairs, pairS, connections, log }) {
  const rows = [];
  const ratios = {};
  const stop = scraping(metricsUrl);
  try {
    for (const sc of scenarios) {
      const run = (side, durationS) => runLoad({
        scenario: sc.name, system: side, target: sc[side], serverPid: side === 'on' ? sc.pidOn : sc.pidOff, durationS, connections,
      });
      await run('on', 1);
      await run('off', 1);
      const got = { on: [], off: [] };
      for (let i = 0; i < pairs; i++) {
        for (const side of i % 2 ? ['off', 'on'] : ['on', 'off']) got[side].push(await run(side, pairS));
        log(`metrics: ${sc.name} pair ${i + 1}/${pairs}: on ${got.on.at(-1)['req/s']} / off ${got.off.at(-1)['req/s']} req/s`);
      }
      const total = (side) => got[side].reduce((n, r) => n + r['req/s'], 0);
      const bad = [...got.on, ...got.off].reduce((n, r) => n + r['non-2xx'] + r.errors, 0);
      rows.push({
        scenario: sc.name,
        pairs,
        's per run': pairS,
        'req/s on (mean)': Math.round(total('on') / pairs),
        'req/s off (mean)': Math.round(total('off') / pairs),
        'on / off (sums)': `${(total('on') / total('off')).toFixed(3)}×`,
        'on / off (median pair)': `${median(got.on.map((r, i) => r['req/s'] / got.off[i]['req/s'])).toFixed(3)}×`,
        'CPU µs/req on': Math.round(median(got.on.map(cpuPerRequest))),
        'CPU µs/req off': Math.round(median(got.off.map(cpuPerRequest))),
        'non-2xx+errors': bad,
      });
      ratios[sc.key] = total('on') / total('off');
    }
  } finally {
    stop();
  }
  return { rows, ratios };
}
