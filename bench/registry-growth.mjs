// Cost as the registry grows (bench/lib/registry-growth.mjs), alone:
//   node bench/registry-growth.mjs      (BENCH_PAIRS 10, BENCH_PAIR_S 3, BENCH_CONNECTIONS 50, BENCH_CHANGES 100)
// Starts two redis-servers and four agent-sts instances (A and B per registry size) on loopback.
// Run `npm run build` first. Writes bench/plots/registry-growth.svg.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePlot } from './lib/plot.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { registryGrowth } from './lib/registry-growth.mjs';
import { markdownTable } from './lib/report.mjs';

const knob = (name, dflt) => Number(process.env[name] ?? dflt);
const opts = { pairs: knob('BENCH_PAIRS', 10), pairS: knob('BENCH_PAIR_S', 3), connections: knob('BENCH_CONNECTIONS', 50), changes: knob('BENCH_CHANGES', 100) };
const plots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'plots');

const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-registry-growth-'));
atExit(() => rmSync(dir, { recursive: true, force: true }));
const t0 = Date.now();
const { rows, paired, targets, plot } = await registryGrowth({ dir, ...opts, log: (m) => process.stderr.write(`[registry-growth] ${m}\n`) });
mkdirSync(plots, { recursive: true });
writePlot(path.join(plots, 'registry-growth.svg'), plot);
process.stdout.write(`${opts.pairs} pairs of ${opts.pairS} s one after the other and ${opts.pairs} side by side, ${opts.connections} connections; ${opts.changes} changes\n\n`
  + `${markdownTable(rows)}\n\n${markdownTable(paired)}\n\n${markdownTable(targets)}\n\nrun took ${Math.round((Date.now() - t0) / 1000)} s\n`);
killAll();
process.exit(targets.every((t) => t.verdict === 'met') ? 0 : 1);
