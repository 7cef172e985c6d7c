// How introspection's cost grows with delegation depth (issue 25, "cost as the work grows"): one
// agent-sts on its own Redis, one chain of tokens made by exchanging a root token DEPTH_MAX times,
// and the tokens at depths 0, 1, 4, 8 and 16 introspected in interleaved rounds (each depth once
// per round, the order rotating), so drift of this shared machine falls on every depth alike.
// Redis' own time per introspection comes from INFO commandstats over each measured run.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hashSecret } from '../../dist/clients/secret.js';
import { API, SECRET, startAgentSts } from './agent-sts.mjs';
import { basic, FORM, form } from './http.mjs';
import { runLoad } from './load.mjs';
import { commandStats, startRedis, usecBetween } from './redis.mjs';
import { clientCredentials, exchange } from './tokens.mjs';

export const DEPTHS = [0, 1, 4, 8, 16];
const DEPTH_MAX = DEPTHS.at(-1);
/** A depth's throughput may fall to this fraction of depth 0's (issue 25: within 1.5×). */
export const DEPTH_TARGET_RATIO = 1 / 1.5;
const AGENT = 'bench-chain';
const WARMUP_S = 1;

function chainFiles(dir) {
  const secretHash = hashSecret(SECRET);
  const registry = path.join(dir, 'chain-registry.json');
  writeFileSync(registry, JSON.stringify({
    agents: [{
      id: AGENT, secretHash, audiences: { [API]: ['read'] }, maxTokenTtlSeconds: 3_600, maxDelegationDepth: DEPTH_MAX,
      grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    }],
    resourceServers: [{ id: API, secretHash, scopes: ['read'] }],
  }), { mode: 0o600 });
  const keys = path.join(dir, 'chain-keys');
  mkdirSync(keys, { recursive: true });
  return { registry, keys };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Rows (one per depth, medians of the rounds), the targets and the plot. Starts and stops its own Redis and agent-sts under `dir`. */
export async function depthCurve({ dir, rounds, seconds, connections, log }) {
  const redis = await startRedis(dir);
  const sts = await startAgentSts({ name: 'agent-sts (chain)', redisUrl: redis.url, files: chainFiles(dir) });
  try {
    // The chain: the agent exchanges its own token, each new session a child of the last.
    const chain = [await clientCredentials(sts, AGENT, 'read')];
    while (chain.length <= DEPTH_MAX) chain.push(await exchange(sts, AGENT, chain.at(-1), 'read'));
    const target = (token) => ({ url: sts.introspectUrl, method: 'POST', headers: { authorization: basic(API, SECRET), 'content-type': FORM }, body: form({ token }) });
    const perDepth = new Map(DEPTHS.map((d) => [d, []]));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < DEPTHS.length; i++) {
        const depth = DEPTHS[(i + round) % DEPTHS.length];
        const load = { scenario: `depth ${depth}`, system: 'agent-sts', target: target(chain[depth]), serverPid: sts.process.pid, redisPid: redis.process.pid, connections };
        await runLoad({ ...load, durationS: WARMUP_S }); // outside Redis' count below
        const before = await commandStats(redis.client);
        const row = await runLoad({ ...load, durationS: seconds });
        if (row['non-2xx'] || row.errors) throw new Error(`depth ${depth}: ${row['non-2xx']} non-2xx, ${row.errors} errors`);
        row.redisUs = usecBetween(before, await commandStats(redis.client)) / (row['req/s'] * seconds);
        perDepth.get(depth).push(row);
        log(`depth: round ${round + 1}/${rounds} depth ${depth}: ${row['req/s']} req/s, p99 ${row['p99 ms']} ms`);
      }
    }
    const base = median(perDepth.get(0).map((r) => r['req/s']));
    const rows = DEPTHS.map((depth) => {
      const rs = perDepth.get(depth);
      const rate = median(rs.map((r) => r['req/s']));
      return {
        depth, 'req/s (median)': rate, 'p99 ms (median)': median(rs.map((r) => r['p99 ms'])), 'CPU % (median)': median(rs.map((r) => r['CPU %'])),
        'Redis µs per request (median)': median(rs.map((r) => r.redisUs)).toFixed(1), 'vs depth 0': `${(rate / base).toFixed(3)}×`,
      };
    });
    const worst = rows.slice(1).reduce((w, r) => (r['req/s (median)'] < w['req/s (median)'] ? r : w));
    const worstRatio = worst['req/s (median)'] / base;
    return {
      rows,
      targets: [{
        target: `introspection at delegation depth 1–${DEPTH_MAX} within 1.5× of depth 0 (issue 25)`,
        measured: `worst: depth ${worst.depth} at ${worstRatio.toFixed(3)}× of depth 0`,
        verdict: worstRatio >= DEPTH_TARGET_RATIO ? 'met' : 'MISSED',
      }],
      plot: {
        title: `Introspection throughput by delegation depth (${rounds} rounds of ${seconds} s, ${connections} connections)`,
        xLabel: 'delegation depth of the token', yLabel: 'req/s (median round)',
        series: [{ name: 'introspection', points: rows.map((r) => [r.depth, r['req/s (median)']]) }],
        targets: [{ name: 'target: depth 0 / 1.5', points: [[0, base / 1.5], [DEPTH_MAX, base / 1.5]] }],
      },
    };
  } finally {
    await sts.stop();
    await redis.close();
  }
}
