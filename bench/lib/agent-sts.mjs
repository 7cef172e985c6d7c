// agent-sts as a user runs it: `node dist/bin/agent-sts-server.js` (built by `npm run build`) with env settings only.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WELL_KNOWN, wellKnownUrl } from 'agent-sts-gate/protocol';
import { hashSecret } from '../../dist/clients/secret.js';
import { expectStatus } from './http.mjs';
import { freePort, spawnOwned, waitUntil } from './procs.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const API = 'https://api.bench.test';
export const ADMIN_AUDIENCE = 'urn:agent-sts:admin';
/** One secret for every bench client (they are all local and throwaway). */
export const SECRET = 'bench-secret-0123456789abcdefghijklmnop';

/** Agents, each with one job, so scenarios never see each other's sessions. */
export const AGENTS = {
  load: 'bench-agent', // client_credentials load, and the parent of the exchange scenario
  sub: 'bench-sub', // the delegate that exchanges bench-agent's token
  tree: 'bench-tree', // builds the 1,000-session subtrees that are killed
  fleet: 'bench-fleet', // holds the 10,000 sessions of the agent-wide kill
  mem: 'bench-mem', // memory per session
  admin: 'bench-admin', // the admin API caller
  push: 'bench-push', // the single-session kills heard by the revocation feed
  pushFleet: 'bench-push-fleet', // the 10,000 sessions of the agent-wide kill heard by the feed
};

export function benchRegistry() {
  const secretHash = hashSecret(SECRET);
  const ttl = 3_600; // nothing expires during a run
  const worker = (id, scopes, extra = {}) => ({
    id, secretHash, audiences: { [API]: scopes }, maxTokenTtlSeconds: ttl, maxDelegationDepth: 2, grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'], ...extra,
  });
  return {
    agents: [
      worker(AGENTS.load, ['read', 'write'], { delegates: [AGENTS.sub] }),
      worker(AGENTS.sub, ['read']),
      worker(AGENTS.tree, ['read', 'write']),
      worker(AGENTS.fleet, ['read']),
      worker(AGENTS.mem, ['read', 'write']),
      worker(AGENTS.push, ['read']),
      worker(AGENTS.pushFleet, ['read']),
      { id: AGENTS.admin, secretHash, audiences: { [ADMIN_AUDIENCE]: ['sessions:read', 'sessions:kill', 'audit:read', 'agents:read', 'agents:manage'] }, maxTokenTtlSeconds: ttl },
    ],
    resourceServers: [{ id: API, secretHash, scopes: ['read', 'write'] }],
  };
}

/** Writes the registry and an empty keys dir under `dir` once; every instance shares them. */
export function prepareFiles(dir) {
  const registry = path.join(dir, 'registry.json');
  writeFileSync(registry, JSON.stringify(benchRegistry(), null, 2), { mode: 0o600 });
  const keys = path.join(dir, 'keys');
  mkdirSync(keys, { recursive: true });
  return { registry, keys };
}

/**
 * Starts one agent-sts. Instances that must accept each other's tokens share `issuer`, the registry
 * and the keys dir (the first instance generates the development key). `nodeArgs`: for profiling
 * (`--cpu-prof`), which NODE_OPTIONS does not accept. `root`: another checkout's build (bench/builds.mjs).
 */
export async function startAgentSts({ name = 'agent-sts', redisUrl, files, issuer, env = {}, nodeArgs = [], root = ROOT }) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const iss = issuer ?? base;
  const proc = spawnOwned(name, process.execPath, [...nodeArgs, 'dist/bin/agent-sts-server.js'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      PORT: String(port),
      HOST: '127.0.0.1',
      STS_ISSUER: iss,
      REDIS_URL: redisUrl,
      STS_REGISTRY: files.registry,
      STS_KEYS_DIR: files.keys,
      STS_LOG_LEVEL: 'error',
      STS_RATE_LIMIT_PER_IP: '0',
      STS_RATE_LIMIT_PER_AGENT: '0',
      STS_RATE_LIMIT_PER_RESOURCE_SERVER: '0',
      STS_WORKERS: '1',
      ...env,
    },
  });
  await waitUntil(async () => (await fetch(`${base}/healthz`)).ok, { what: name, child: proc, timeoutMs: 20_000 });
  // The issuer's metadata URL, reached on this instance's own port.
  const meta = await expectStatus(200, base + new URL(wellKnownUrl(iss, WELL_KNOWN.authorizationServer)).pathname, { method: 'GET' });
  // Endpoints are named after the issuer; an instance sharing another's issuer is reached on its own port.
  const local = (u) => base + new URL(u).pathname;
  return {
    name,
    base,
    issuer: iss,
    process: proc,
    tokenUrl: local(meta.token_endpoint),
    introspectUrl: local(meta.introspection_endpoint),
    adminUrl: `${base}${new URL(iss).pathname.replace(/\/$/, '')}/admin`,
    stop: () => proc.stop(),
  };
}
