import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, spawnRedis } from './redis-process.mjs';

export { freePort };

/** A real redis-server on a free loopback port, owned by the test that started it. */
export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL, like a crash. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that is alive but answers nothing. */
  pause(): void;
  resume(): void;
  /** Starts again on the same port and data dir (what persistence kept comes back). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-redis-'));
  let child: ChildProcess = await spawnRedis(port, dir, extraArgs);
  const exited = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async kill() {
      child.kill('SIGKILL');
      await exited();
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async restart() {
      child = await spawnRedis(port, dir, extraArgs);
    },
    async stop() {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await exited();
    },
  };
}
