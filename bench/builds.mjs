// Two builds of agent-sts side by side: this checkout ("this") against another checkout's build
// ("base", BENCH_BASE=<dir>, e.g. a git worktree of an earlier commit with `npm ci && npm run build`
// done). Both run as users run them, on one Redis, sharing issuer, registry and keys, and are compared
// with the paired method (bench/lib/paired.mjs): introspection of a root token and client credentials.
// What a change to the hot paths cost, measured the one way that resolves a few per cent here.
//   BENCH_BASE=/work/base node bench/builds.mjs      (BENCH_PAIRS, BENCH_PAIR_S, BENCH_CONNECTIONS)
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashSecret } from '../dist/clients/secret.js';
import { API, ROOT, SECRET, startAgentSts } from './lib/agent-sts.mjs';
import { basic, expectStatus } from './lib/http.mjs';
import { pairedCost } from './lib/paired.mjs';
import { atExit, killAll } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';
import { markdownTable } from './lib/report.mjs';
import { ccBody } from './lib/tokens.mjs';

const base = process.env.BENCH_BASE;
if (!base) throw new Error('BENCH_BASE=<dir of the other checkout, built> is required');
const knob = (name, dflt) => Number(process.env[name] ?? dflt);
const pairs = knob('BENCH_PAIRS', 8);
const pairS = knob('BENCH_PAIR_S', 6);
const connections = knob('BENCH_CONNECTIONS', 50);
const log = (m) => process.stderr.write(`${m}\n`);
const AGENT = 'bench-agent';

atExit(killAll);
const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-builds-'));
// Both builds must read it: only what every version's file schema takes (client credentials by default).
const secretHash = hashSecret(SECRET);
const registry = path.join(dir, 'registry.json');
writeFileSync(registry, JSON.stringify({
  agents: [{ id: AGENT, secretHash, audiences: { [API]: ['read', 'write'] }, maxTokenTtlSeconds: 3_600 }],
  resourceServers: [{ id: API, secretHash, scopes: ['read', 'write'] }],
}), { mode: 0o600 });
const keys = path.join(dir, 'keys');
mkdirSync(keys);
const files = { registry, keys };

const redis = await startRedis(dir);
const first = await startAgentSts({ name: 'this', redisUrl: redis.url, files });
const other = await startAgentSts({ name: 'base', redisUrl: redis.url, files, issuer: first.issuer, root: path.resolve(base) });
const token = (await expectStatus(200, first.tokenUrl, { auth: basic(AGENT, SECRET), body: ccBody('read write') })).access_token;
const target = (name, url, auth, body) => ({ name, url, method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
const both = (key, name, url, auth, body) => ({
  key, name, on: target(name, url(first), auth, body), off: target(name, url(other), auth, body), pidOn: first.process.pid, pidOff: other.process.pid,
});
const { rows } = await pairedCost({
  scenarios: [
    both('introspect', 'introspect active (root token)', (s) => s.introspectUrl, basic(API, SECRET), { token }),
    both('cc', 'client_credentials', (s) => s.tokenUrl, basic(AGENT, SECRET), ccBody('read write')),
  ],
  pairs, pairS, connections, redisPid: redis.process.pid, log, tag: 'this / base',
});
process.stdout.write(`this: ${ROOT}\nbase: ${path.resolve(base)}\non = this build, off = base build\n\n${markdownTable(rows)}\n`);
await first.stop();
await other.stop();
await redis.close();
