// The live-registry scenarios of issue 9 §4, on their own: `npm run --silent build && node bench/registry.mjs`.
// Starts its own redis-server and two agent-sts instances (A and B) sharing it, on loopback.
// BENCH_AGENT_SESSIONS (10,000), BENCH_CONNECTIONS (50), BENCH_CHANGES (100).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { killAll } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { disableUnderLoad, visibilityDelay } from './lib/registry.mjs';
import { plainTable } from './lib/report.mjs';

const knob = (name, def) => Number(process.env[name] ?? def);
const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-bench-registry-'));
let code;
try {
  const redis = await startRedis(dir);
  const files = prepareFiles(dir);
  const a = await startAgentSts({ name: 'agent-sts-a', redisUrl: redis.url, files });
  const b = await startAgentSts({ name: 'agent-sts-b', redisUrl: redis.url, files, issuer: a.issuer });
  const disable = await disableUnderLoad(a, b, { size: knob('BENCH_AGENT_SESSIONS', 10_000), connections: knob('BENCH_CONNECTIONS', 50) });
  const visible = await visibilityDelay(a, b, { changes: knob('BENCH_CHANGES', 100) });
  process.stdout.write(`${plainTable([disable])}\n\n${plainTable([visible])}\n`);
  code = disable.ok && visible.ok ? 0 : 1;
} finally {
  killAll();
}
process.exit(code);
