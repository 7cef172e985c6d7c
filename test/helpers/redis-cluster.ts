import { afterAll, beforeAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, spawnRedis } from './redis-process.mjs';

const run = promisify(execFile);
const CLUSTER_READY_TIMEOUT_MS = 15_000;

/** A real 3-master Redis Cluster on loopback ports, owned by the test that started it. */
export interface RedisCluster {
  ports: number[];
  /** REDIS_URL form agent-sts reads: redis+cluster://h:p,h:p,h:p */
  url: string;
  stop(): Promise<void>;
}

async function clusterOk(port: number): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
  return /cluster_state:ok/.test(stdout) && /cluster_slots_assigned:16384/.test(stdout);
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    // the bus port too: by default it is port + 10000, past 65535 (and so a failed start) for a
    // quarter of the ephemeral range, or possibly taken
    const busPort = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-cluster-'));
    children.push(await spawnRedis(port, dir, [
      '--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
    ]));
    ports.push(port);
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  };
  try {
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    while (!(await Promise.all(ports.map(clusterOk))).every(Boolean)) {
      if (Date.now() > deadline) throw new Error('redis cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, stop };
}

/** Time a cluster may take to start (three redis-servers, slots assigned, every node agreeing). */
const CLUSTER_START_TIMEOUT_MS = 30_000;

/**
 * A cluster for the whole test file: started before its first test, stopped after its last.
 * `url()` is read inside tests (or factories they call), once the cluster is up.
 */
export function clusterForFile(): { url(): string } {
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, CLUSTER_START_TIMEOUT_MS);
  afterAll(async () => {
    await cluster?.stop();
  });
  return {
    url: () => {
      if (!cluster) throw new Error('the cluster is not started yet: read url() inside a test');
      return cluster.url;
    },
  };
}
