// Introspection throughput at delegation depth 0, 1, 4, 8 and 16 (bench/lib/depth.mjs), alone:
//   node bench/depth.mjs      (BENCH_ROUNDS, BENCH_DEPTH_S, BENCH_CONNECTIONS)
// Also part of `npm run bench` (group `depth`). Run `npm run build` first. Writes bench/plots/depth.svg.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { depthCurve } from './lib/depth.mjs';
import { writePlot } from './lib/plot.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { markdownTable } from './lib/report.mjs';

const knob = (name, dflt) => Number(process.env[name] ?? dflt);
const rounds = knob('BENCH_ROUNDS', 3);
const seconds = knob('BENCH_DEPTH_S', 5);
const connections = knob('BENCH_CONNECTIONS', 50);
const plots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'plots');

atExit(killAll);
const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-depth-'));
const { rows, targets, plot } = await depthCurve({ dir, rounds, seconds, connections, log: (m) => process.stderr.write(`${m}\n`) });
mkdirSync(plots, { recursive: true });
writePlot(path.join(plots, 'depth.svg'), plot);
process.stdout.write(`${rounds} interleaved rounds of ${seconds} s, ${connections} connections\n\n${markdownTable(rows)}\n\n${markdownTable(targets)}\n`);
killAll();
