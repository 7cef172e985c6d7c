// Subtree kill cost vs subtree size (issue 25): one agent-sts on its own Redis, a kill per size.
//   node bench/kill-growth.mjs        (BENCH_KILL_SIZES=1000,10000,100000; run `npm run build` first)
// Prints the table and targets; writes bench/plots/kill-growth.svg.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { killGrowth } from './lib/kill-growth.mjs';
import { writePlot } from './lib/plot.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { markdownTable } from './lib/report.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MAX_SIZE = 1_000_000;
const sizes = (process.env.BENCH_KILL_SIZES ?? '1000,10000,100000').split(',').map(Number);
if (sizes.some((s) => !Number.isInteger(s) || s < 2 || s > MAX_SIZE)) throw new Error(`BENCH_KILL_SIZES: integers from 2 to ${MAX_SIZE}`);
const log = (m) => process.stderr.write(`${m}\n`);

const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-kill-growth-'));
atExit(() => rmSync(dir, { recursive: true, force: true }));
let code;
try {
  const redis = await startRedis(dir);
  const sts = await startAgentSts({ redisUrl: redis.url, files: prepareFiles(dir) });
  const { rows, targets, plot } = await killGrowth(sts, redis.client, { sizes, log });
  process.stdout.write(`${markdownTable(rows)}\n${markdownTable(targets)}`);
  mkdirSync(path.join(HERE, 'plots'), { recursive: true });
  writePlot(path.join(HERE, 'plots', 'kill-growth.svg'), plot);
  code = targets.every((t) => t.verdict === 'met') ? 0 : 1;
  const tail = sts.process.stderrTail();
  if (tail) log(`agent-sts stderr (last lines):\n${tail}`);
  await sts.stop();
  await redis.close();
} finally {
  killAll();
}
process.exit(code);
