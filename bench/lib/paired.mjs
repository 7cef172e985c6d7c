// The cost of one setting: two fresh instances alike but for it, measured two ways.
//  - One after the other: short back-to-back pairs whose order alternates, so the drift of a shared
//    machine falls on both sides of each pair alike. Catches every cost, Redis' included, but on
//    this 2-core box runs of a few seconds differ by ±15–30% (the same build against itself gave
//    0.88–1.00× over 8–10 pairs), too coarse for a 3% target.
//  - Side by side: both loaded at once, each with its own connections, so both live through the
//    same moments and share the CPU; each side's throughput then follows its own CPU per request
//    (the same build against itself: 0.95–1.03×). Redis is shared, so a cost in Redis weighs on
//    both sides a little and shows less here than one after the other.
// The side-by-side ratio is the one targets are judged on; both are reported. Used for metrics on /
// off (issue 13 §4), and for the audit trail and usage counting on / off (issue 10 §3).
import { runLoad } from './load.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
/** CPU time per 2xx response of one run, in µs, from a CPU % column. */
const perRequest = (row, column) => ((row[column] / 100) * 1e6) / row['req/s'];
/** Student's t at 97.5% for 1..30 degrees of freedom (index = df); 1.96 beyond. */
const T975 = [NaN, 12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04];

/**
 * A 95% interval for the ratio, from the per-pair ratios (a t-interval of their logs, so a pair
 * at 0.8× and one at 1.25× cancel): how far the figure can be trusted on this machine.
 */
function interval(ratios) {
  const n = ratios.length;
  if (n < 2) return 'n/a';
  const logs = ratios.map(Math.log);
  const mean = logs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = (T975[n - 1] ?? 1.96) * (sd / Math.sqrt(n));
  return `${Math.exp(mean - half).toFixed(3)}–${Math.exp(mean + half).toFixed(3)}`;
}

/** Seconds of each side's untimed run before the pairs: JIT and connection pools warm on both. */
const WARM_S = 1;

/**
 * scenarios: [{ key, name, on, off, pidOn, pidOff }] (on/off: load targets). Runs `pairs` pairs
 * one after the other, then `pairs` runs side by side. Returns one row per scenario (the
 * side-by-side ratio of the summed req/s and its 95% interval; one after the other: the mean req/s
 * of each side, the ratio of the sums, the median, range and interval of the per-pair ratios, CPU
 * µs per request of the server and of Redis on each side, medians), `ratios` (side by side: what
 * targets are judged on) and `sequential` (one after the other), each by scenario key.
 */
export async function pairedCost({ scenarios, pairs, pairS, connections, redisPid, log, tag }) {
  const rows = [];
  const ratios = {};
  const sequential = {};
  for (const sc of scenarios) {
    const run = (side, durationS) => runLoad({
      scenario: sc.name, system: side, target: sc[side], serverPid: side === 'on' ? sc.pidOn : sc.pidOff, redisPid, durationS, connections,
    });
    await run('on', WARM_S);
    await run('off', WARM_S);
    const got = { on: [], off: [] };
    for (let i = 0; i < pairs; i++) {
      for (const side of i % 2 ? ['off', 'on'] : ['on', 'off']) got[side].push(await run(side, pairS));
      log(`${tag}: ${sc.name} pair ${i + 1}/${pairs}: on ${got.on.at(-1)['req/s']} / off ${got.off.at(-1)['req/s']} req/s`);
    }
    const both = { on: [], off: [] };
    for (let i = 0; i < pairs; i++) {
      const [on, off] = await Promise.all([run('on', pairS), run('off', pairS)]);
      both.on.push(on);
      both.off.push(off);
      log(`${tag}: ${sc.name} side by side ${i + 1}/${pairs}: on ${on['req/s']} / off ${off['req/s']} req/s`);
    }
    const total = (side, runs = got) => runs[side].reduce((n, r) => n + r['req/s'], 0);
    const ratiosOf = (runs) => runs.on.map((r, i) => r['req/s'] / runs.off[i]['req/s']).sort((a, b) => a - b);
    const pairRatios = ratiosOf(got);
    const sideRatio = total('on', both) / total('off', both);
    const cpu = (side, column) => Math.round(median(got[side].map((r) => perRequest(r, column))));
    const bad = [...got.on, ...got.off, ...both.on, ...both.off].reduce((n, r) => n + r['non-2xx'] + r.errors, 0);
    rows.push({
      scenario: sc.name,
      pairs,
      's per run': pairS,
      'req/s on (mean)': Math.round(total('on') / pairs),
      'req/s off (mean)': Math.round(total('off') / pairs),
      'side by side on / off (sums)': `${sideRatio.toFixed(3)}×`,
      'side by side 95% interval': interval(ratiosOf(both)),
      'one after the other on / off (sums)': `${(total('on') / total('off')).toFixed(3)}×`,
      'one after the other (median pair)': `${median(pairRatios).toFixed(3)}×`,
      'pair ratios min–max': `${pairRatios[0].toFixed(2)}–${pairRatios.at(-1).toFixed(2)}`,
      'one after the other 95% interval': interval(pairRatios),
      'CPU µs/req on': cpu('on', 'CPU %'),
      'CPU µs/req off': cpu('off', 'CPU %'),
      ...(redisPid ? { 'redis µs/req on': cpu('on', 'redis CPU %'), 'redis µs/req off': cpu('off', 'redis CPU %') } : {}),
      'non-2xx+errors': bad,
    });
    ratios[sc.key] = sideRatio;
    sequential[sc.key] = total('on') / total('off');
  }
  return { rows, ratios, sequential };
}
