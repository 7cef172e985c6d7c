// Throwaway: introspection of an active root token: before issue-10 parts 4-5 (old build), usage off, usage on; interleaved, 127.0.0.1.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENTS, API, SECRET, prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { FORM, basic, form } from './lib/http.mjs';
import { runLoad } from './lib/load.mjs';
import { spawnOwned, freePort, waitUntil } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { clientCredentials } from './lib/tokens.mjs';
const dir = mkdtempSync(path.join(os.tmpdir(), 'h-intro-'));
const redis = await startRedis(dir);
const files = prepareFiles(dir);
const on = await startAgentSts({ name: 'usage on', redisUrl: redis.url, files });
const off = await startAgentSts({ name: 'usage off', redisUrl: redis.url, files, issuer: on.issuer, env: { STS_USAGE: 'off' } });
const port = await freePort();
const oldProc = spawnOwned('old', process.execPath, ['dist/bin/agent-sts-server.js'], { cwd: '/tmp/h-old', env: { ...process.env, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', STS_ISSUER: on.issuer, REDIS_URL: redis.url, STS_REGISTRY: files.registry, STS_KEYS_DIR: files.keys, STS_LOG_LEVEL: 'error', STS_RATE_LIMIT_PER_IP: '0', STS_RATE_LIMIT_PER_AGENT: '0', STS_RATE_LIMIT_PER_RESOURCE_SERVER: '0' } });
await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { what: 'old', child: oldProc, timeoutMs: 20_000 });
const old = { introspectUrl: `http://127.0.0.1:${port}/introspect`, process: oldProc };
const root = await clientCredentials(on, AGENTS.load, 'read write');
const t = (s) => ({ url: s.introspectUrl, method: 'POST', headers: { authorization: basic(API, SECRET), 'content-type': FORM }, body: form({ token: root }) });
const systems = [['old', old], ['off', off], ['on', on]];
const res = Object.fromEntries(systems.map(([n]) => [n, []]));
const ROUNDS = Number(process.env.ROUNDS ?? 4), DUR = Number(process.env.DUR ?? 5);
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [...systems].reverse() : systems;
  for (const [n, s] of order) {
    const row = await runLoad({ scenario: 'introspect', system: n, target: t(s), serverPid: s.process.pid, redisPid: redis.process.pid, durationS: DUR, connections: 50, warmupS: 1 });
    res[n].push(row['req/s']);
    process.stderr.write(`${n} r${r}: ${row['req/s']} req/s p99 ${row['p99 ms']} CPU ${row['CPU %']} non2xx ${row['non-2xx']}\n`);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify(res));
console.log('median old', med(res.old), 'off', med(res.off), 'on', med(res.on), 'off/old', (med(res.off) / med(res.old)).toFixed(3), 'on/off', (med(res.on) / med(res.off)).toFixed(3));
console.log('paired on/off', res.on.map((v, i) => (v / res.off[i]).toFixed(3)).join(' '), 'paired off/old', res.off.map((v, i) => (v / res.old[i]).toFixed(3)).join(' '));
await on.stop(); await off.stop(); await oldProc.stop(); await redis.close();
process.exit(0);
