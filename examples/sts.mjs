// Starts agent-sts as its own process on the embedded (memory) store, the way `npm start` would
// without REDIS_URL, with a registry and a signing key made for this demo in a temporary folder.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// What `agent-sts hash-secret` and `agent-sts keys rotate` do, called directly.
import { hashSecret, newSecret } from '../dist/clients/secret.js';
import { addKey } from '../dist/keys/keystore.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 100;

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The demo's registry: who may hold tokens for which resource, and who may delegate to whom. */
function registry(mcpUrl, secrets) {
  return {
    agents: [
      {
        id: 'planner-agent', owner: 'team-finance', secretHash: hashSecret(secrets['planner-agent']),
        audiences: { [mcpUrl]: ['invoices:read', 'invoices:write'] },
        maxTokenTtlSeconds: 300, maxDelegationDepth: 1, grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'], delegates: ['research-sub-agent'],
      },
      {
        id: 'research-sub-agent', owner: 'team-finance', secretHash: hashSecret(secrets['research-sub-agent']),
        audiences: { [mcpUrl]: ['invoices:read'] }, maxTokenTtlSeconds: 120, maxDelegationDepth: 1, grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'], requireDpop: true,
      },
      { id: 'security-admin', secretHash: hashSecret(secrets['security-admin']), audiences: { 'urn:agent-sts:admin': ['sessions:read', 'sessions:kill'] } },
    ],
    resourceServers: [{ id: mcpUrl, secretHash: hashSecret(secrets[mcpUrl]), scopes: ['invoices:read', 'invoices:write'] }],
  };
}

export async function startSts({ mcpUrl }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-demo-'));
  const keysDir = path.join(dir, 'keys');
  await addKey(keysDir);
  const secrets = Object.fromEntries(['planner-agent', 'research-sub-agent', 'security-admin', mcpUrl].map((id) => [id, newSecret()]));
  const registryFile = path.join(dir, 'registry.json');
  writeFileSync(registryFile, JSON.stringify(registry(mcpUrl, secrets), null, 2));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/bin/agent-sts-server.js')], {
    cwd: dir,
    env: {
      PATH: process.env.PATH, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', STS_ISSUER: issuer,
      STS_REGISTRY: registryFile, STS_KEYS_DIR: keysDir, STS_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await fetch(`${issuer}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error('agent-sts did not start');
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  return { issuer, secrets, stop };
}
