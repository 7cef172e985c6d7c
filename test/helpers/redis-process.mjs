// Plain ESM, shared by jest's globalSetup (which runs outside the TypeScript transform) and the tests.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

const READY_TIMEOUT_MS = 5_000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** PING over a raw socket: no client library, so nothing lingers in the process that waited. */
export function ping(port) {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1' });
    sock.setTimeout(500, () => sock.destroy(new Error('timeout')));
    sock.once('error', reject);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => {
      sock.destroy();
      if (d.toString().startsWith('+PONG')) resolve();
      else reject(new Error(d.toString().trim()));
    });
  });
}

async function waitReady(port, child) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    try {
      await ping(port);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start: ${err.message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Spawns redis-server on 127.0.0.1:port with data in dir (persistence off unless extraArgs turn it on). */
export async function spawnRedis(port, dir, extraArgs = []) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extraArgs];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot start redis-server (is it installed?): ${err.message}`, { cause: err })));
  });
  await waitReady(port, child);
  return child;
}
