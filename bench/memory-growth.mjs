// Redis bytes per live session at 100k and 1M sessions (issue 25), through the service's own store
// code, a fresh redis-server per size.
//   node bench/memory-growth.mjs      (BENCH_MEMORY_SIZES=100000,1000000; run `npm run build` first)
// Prints the table and targets; writes bench/plots/memory-growth.svg.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryGrowth } from './lib/memory-growth.mjs';
import { writePlot } from './lib/plot.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { markdownTable } from './lib/report.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MAX_SIZE = 10_000_000;
const sizes = (process.env.BENCH_MEMORY_SIZES ?? '100000,1000000').split(',').map(Number);
if (sizes.some((s) => !Number.isInteger(s) || s < 2 || s > MAX_SIZE)) throw new Error(`BENCH_MEMORY_SIZES: integers from 2 to ${MAX_SIZE}`);
const log = (m) => process.stderr.write(`${m}\n`);

atExit(killAll);
let code;
try {
  const { rows, targets, plot } = await memoryGrowth(null, { sizes, log });
  process.stdout.write(`${markdownTable(rows)}\n${markdownTable(targets)}`);
  mkdirSync(path.join(HERE, 'plots'), { recursive: true });
  writePlot(path.join(HERE, 'plots', 'memory-growth.svg'), plot);
  code = targets.every((t) => t.verdict === 'met') ? 0 : 1;
} finally {
  killAll();
}
process.exit(code);
