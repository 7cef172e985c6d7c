// The benchmark's own redis-server on a free loopback port (no persistence), and a client to it.
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { ping } from '../../test/helpers/redis-process.mjs';
import { freePort, spawnOwned, waitUntil } from './procs.mjs';

export function redisVersion() {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'redis-server not found';
  }
}

/** Starts redis-server with data in `dir`; returns { url, port, process, client, close }. */
export async function startRedis(dir) {
  const port = await freePort();
  const proc = spawnOwned('redis-server', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--protected-mode', 'yes', '--loglevel', 'warning',
    // Commands slower than 1 ms are logged: the kills report the kill script's own time from here.
    '--slowlog-log-slower-than', '1000', '--slowlog-max-len', '1024',
  ]);
  await waitUntil(() => ping(port).then(() => true), { what: 'redis-server', child: proc, timeoutMs: 10_000, everyMs: 50 });
  const url = `redis://127.0.0.1:${port}`;
  // Gives up after a few reconnects: a dead Redis ends the measurement, it must not keep the process alive.
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: (n) => (n > 5 ? null : n * 100) });
  client.on('error', () => {});
  await client.connect();
  return {
    url,
    port,
    process: proc,
    client,
    async close() {
      client.disconnect();
      await proc.stop();
    },
  };
}

/** used_memory from INFO memory, in bytes. */
export async function usedMemory(client) {
  const info = await client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)[1]);
}

/** INFO commandstats as { command: { calls, usec } }: Redis' own time, per command. */
export async function commandStats(client) {
  const text = await client.info('commandstats');
  const out = {};
  for (const m of text.matchAll(/cmdstat_([^:]+):calls=(\d+),usec=(\d+)/g)) out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}

/** Redis' own µs spent between two commandStats readings, over every command. */
export function usecBetween(before, after) {
  let usec = 0;
  for (const [cmd, s] of Object.entries(after)) usec += s.usec - (before[cmd]?.usec ?? 0);
  return usec;
}
