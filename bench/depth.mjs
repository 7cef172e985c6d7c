// How introspection's cost grows with delegation depth (issue 25, "cost as the work grows"): one
// agent-sts on its own Redis, one chain of tokens made by exchanging a root token DEPTH_MAX times,
// and the tokens at depths 0, 1, 4, 8 and 16 introspected in interleaved rounds (each depth once
// per round, the order rotating), so drift of this shared machine falls on every depth alike.
//   node bench/depth.mjs      (BENCH_ROUNDS, BENCH_DEPTH_S, BENCH_CONNECTIONS)
// Target: every depth ≥ 1 / 1.5 of depth 0's throughput. Run `npm run build` first.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashSecret } from '../dist/clients/secret.js';
import { API, SECRET, startAgentSts } from './lib/agent-sts.mjs';
import { basic } from './lib/http.mjs';
import { runLoad } from './lib/load.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { commandStats, startRedis, usecBetween } from './lib/redis.mjs';
import { markdownTable } from './lib/report.mjs';
import { clientCredentials, exchange } from './lib/tokens.mjs';

const knob = (name, dflt) => Number(process.env[name] ?? dflt);
const rounds = knob('BENCH_ROUNDS', 3);
const seconds = knob('BENCH_DEPTH_S', 5);
const connections = knob('BENCH_CONNECTIONS', 50);
const DEPTHS = [0, 1, 4, 8, 16];
const DEPTH_MAX = DEPTHS.at(-1);
/** A depth's throughput may fall to this fraction of depth 0's. */
const TARGET_RATIO = 1 / 1.5;
const AGENT = 'bench-chain';
const log = (m) => process.stderr.write(`${m}\n`);

atExit(killAll);
const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-depth-'));
const secretHash = hashSecret(SECRET);
const registry = path.join(dir, 'registry.json');
writeFileSync(registry, JSON.stringify({
  agents: [{
    id: AGENT, secretHash, audiences: { [API]: ['read'] }, maxTokenTtlSeconds: 3_600, maxDelegationDepth: DEPTH_MAX,
    grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
  }],
  resourceServers: [{ id: API, secretHash, scopes: ['read'] }],
}), { mode: 0o600 });
const keys = path.join(dir, 'keys');
mkdirSync(keys);
const redis = await startRedis(dir);
const sts = await startAgentSts({ redisUrl: redis.url, files: { registry, keys } });

// The chain: the agent exchanges its own token, each new session a child of the last.
const chain = [await clientCredentials(sts, AGENT, 'read')];
while (chain.length <= DEPTH_MAX) chain.push(await exchange(sts, AGENT, chain.at(-1), 'read'));

const target = (token) => ({
  url: sts.introspectUrl, method: 'POST',
  headers: { authorization: basic(API, SECRET), 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ token }).toString(),
});
const perDepth = new Map(DEPTHS.map((d) => [d, []]));
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < DEPTHS.length; i++) {
    const depth = DEPTHS[(i + round) % DEPTHS.length];
    const load = { scenario: `depth ${depth}`, system: 'agent-sts', target: target(chain[depth]), serverPid: sts.process.pid, redisPid: redis.process.pid, connections };
    await runLoad({ ...load, durationS: 1 }); // warm-up, outside Redis' count below
    const statsBefore = await commandStats(redis.client);
    const row = await runLoad({ ...load, durationS: seconds });
    row.redisUsPerRequest = usecBetween(statsBefore, await commandStats(redis.client)) / (row['req/s'] * seconds);
    if (row['non-2xx'] || row.errors) throw new Error(`depth ${depth}: ${row['non-2xx']} non-2xx, ${row.errors} errors`);
    perDepth.get(depth).push(row);
    log(`round ${round + 1}/${rounds} depth ${depth}: ${row['req/s']} req/s, p99 ${row['p99 ms']} ms`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(perDepth.get(0).map((r) => r['req/s']));
const rows = DEPTHS.map((depth) => {
  const rs = perDepth.get(depth);
  const rate = median(rs.map((r) => r['req/s']));
  return {
    depth, 'req/s (median)': rate, 'p99 ms (median)': median(rs.map((r) => r['p99 ms'])), 'CPU % (median)': median(rs.map((r) => r['CPU %'])),
    'Redis µs per request (median)': median(rs.map((r) => r.redisUsPerRequest)).toFixed(1),
    'vs depth 0': `${(rate / base).toFixed(3)}×`, target: depth === 0 ? '' : rate / base >= TARGET_RATIO ? 'met' : 'missed',
  };
});
process.stdout.write(`${rounds} interleaved rounds of ${seconds} s, ${connections} connections, target ≥ ${TARGET_RATIO.toFixed(3)}× depth 0\n\n${markdownTable(rows)}\n`);
await sts.stop();
await redis.close();
