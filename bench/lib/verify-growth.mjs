// The audit trail's verification as the trail grows (issue 25): GET /admin/audit/verify over each of
// `sizes` records (default 1M and 10M), the trail filled up to each size in turn through the
// service's own Lua append (bench/lib/audit.mjs). Per size: fill time, verify time, records/s and
// the server's RSS before and at most during the call. Linear = records/s holds as the trail grows;
// streamed = RSS max during stays flat. The instance must keep at least max(sizes) records
// (STS_AUDIT_MAX_RECORDS), or its own appends trim the trail under the measurement.
import { performance } from 'node:perf_hooks';
import { fill, HEAD, measureAudit, STREAM } from './audit.mjs';
import { usedMemory } from './redis.mjs';

/** Records/s at the largest size must be at least this share of that at the smallest (linear). */
const MIN_RATE_RATIO = 0.8;
/** RSS max during the call at the largest size must be at most this multiple of that at the smallest (flat). */
const MAX_RSS_RATIO = 1.5;

const verdict = (ok) => (ok ? 'met' : 'MISSED');

/** Fills the trail to `n` records (timed), then one verify call over all of it. */
async function atSize(sts, redis, n) {
  const have = await redis.xlen(STREAM);
  const t0 = performance.now();
  await fill(redis, STREAM, HEAD, Math.max(n - have, 0));
  const fillS = (performance.now() - t0) / 1000;
  const [row] = await measureAudit(sts, redis, { n });
  return {
    records: row.records,
    'appended': Math.max(n - have, 0),
    'fill s': fillS.toFixed(1),
    'verify ok': row['verify ok'],
    checked: row.checked,
    'verify s': row['verify s'],
    'records/s': row['records/s'],
    'RSS before MB': row['RSS before MB'],
    'RSS max during MB': row['RSS max during MB'],
    'RSS growth MB': row['RSS max during MB'] - row['RSS before MB'],
    'redis used_memory MB': Math.round((await usedMemory(redis)) / 2 ** 20),
  };
}

/**
 * `sts`: a started agent-sts (bench/lib/agent-sts.mjs) whose STS_AUDIT_MAX_RECORDS is 0 or at least
 * max(sizes); `redisClient`: an ioredis client to its Redis. Sizes run in ascending order, each
 * growing the same trail. Returns { rows, targets, plot }.
 */
export async function verifyGrowth(sts, redisClient, { sizes = [1e6, 1e7], log = () => {} } = {}) {
  const rows = [];
  for (const n of [...sizes].sort((a, b) => a - b)) {
    log(`verify-growth: fill to ${n.toLocaleString('en-US')} records, then GET /admin/audit/verify`);
    rows.push(await atSize(sts, redisClient, n));
    log(`verify-growth: ${JSON.stringify(rows.at(-1))}`);
  }
  const [first, last] = [rows[0], rows.at(-1)];
  const rateRatio = last['records/s'] / first['records/s'];
  const rssRatio = last['RSS max during MB'] / first['RSS max during MB'];
  const size = (r) => r.records.toLocaleString('en-US');
  const targets = [
    { target: `verify over ${size(last)} records completes with ok=true`, measured: `ok=${last['verify ok']}, checked ${last.checked.toLocaleString('en-US')} in ${last['verify s']} s`, verdict: verdict(last['verify ok'] === true) },
    { target: `records/s at ${size(last)} ≥ ${MIN_RATE_RATIO}× records/s at ${size(first)} (linear)`, measured: `${last['records/s']} / ${first['records/s']} = ${rateRatio.toFixed(2)}×`, verdict: verdict(rateRatio >= MIN_RATE_RATIO) },
    { target: `RSS max during at ${size(last)} ≤ ${MAX_RSS_RATIO}× that at ${size(first)} (streamed)`, measured: `${last['RSS max during MB']} / ${first['RSS max during MB']} MB = ${rssRatio.toFixed(2)}×`, verdict: verdict(rssRatio <= MAX_RSS_RATIO) },
  ];
  const points = (col) => rows.map((r) => [r.records, Number(r[col])]);
  const plot = {
    title: `GET /admin/audit/verify as the trail grows (one run, ${new Date().toISOString().slice(0, 10)})`,
    xLabel: 'audit records',
    yLabel: 'seconds / MB',
    logX: true,
    logY: true,
    series: [
      { name: 'verify s', points: points('verify s') },
      { name: 'server RSS max during MB', points: points('RSS max during MB') },
      { name: 'server RSS before MB', points: points('RSS before MB') },
    ],
    targets: [{ name: `verify s if linear from ${size(first)}`, points: rows.map((r) => [r.records, (Number(first['verify s']) * r.records) / first.records]) }],
  };
  return { rows, targets, plot };
}
