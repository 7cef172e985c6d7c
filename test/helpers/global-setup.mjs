// Plain ESM: jest loads globalSetup outside its TypeScript transform under --experimental-vm-modules.
// One real redis-server on a free loopback port for the whole run; each test file isolates itself with
// its own key prefix. Tests that crash, pause or restart Redis start their own (redis-server.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

const READY_TIMEOUT_MS = 5_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(port, child) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} (is it installed?)`);
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start: ${err.message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export default async function globalSetup() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  child.on('error', (err) => {
    throw new Error(`cannot start redis-server: ${err.message}`);
  });
  await waitReady(port, child);
  globalThis.__STS_TEST_REDIS__ = child;
  process.env.STS_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
}
