// GET /admin/audit/verify over a growing trail (bench/lib/verify-growth.mjs), alone:
//   node bench/verify-growth.mjs      (BENCH_VERIFY_SIZES, comma-separated record counts; default 1000000,10000000)
// Starts its own redis-server (10M records take about 4.5 GB in it) and one agent-sts keeping
// twice the largest size (STS_AUDIT_MAX_RECORDS). Run `npm run build` first. Writes bench/plots/verify-growth.svg.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { writePlot } from './lib/plot.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { markdownTable } from './lib/report.mjs';
import { verifyGrowth } from './lib/verify-growth.mjs';

const sizes = (process.env.BENCH_VERIFY_SIZES ?? '1000000,10000000').split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 50_000_000)) throw new Error('BENCH_VERIFY_SIZES: comma-separated integers from 1 to 50,000,000');
const plots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'plots');
const log = (m) => process.stderr.write(`[verify-growth] ${m}\n`);

const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-verify-growth-'));
atExit(() => rmSync(dir, { recursive: true, force: true }));
const t0 = Date.now();
const redis = await startRedis(dir);
const sts = await startAgentSts({ redisUrl: redis.url, files: prepareFiles(dir), env: { STS_AUDIT_MAX_RECORDS: String(2 * Math.max(...sizes)) } });
const { rows, targets, plot } = await verifyGrowth(sts, redis.client, { sizes, log });
mkdirSync(plots, { recursive: true });
writePlot(path.join(plots, 'verify-growth.svg'), plot);
process.stdout.write(`${markdownTable(rows)}\n\n${markdownTable(targets)}\n\nrun took ${Math.round((Date.now() - t0) / 1000)} s\n`);
killAll();
process.exit(targets.every((t) => t.verdict === 'met') ? 0 : 1);
