// A floor baseline (bench/baselines/*.mjs) as its own process on a free loopback port, against one
// Redis; it answers POST / once ready. `nodeArgs`: for profiling (`--cpu-prof`).
import path from 'node:path';
import { ROOT } from './agent-sts.mjs';
import { freePort, spawnOwned, waitUntil } from './procs.mjs';

export async function startFloor(name, file, redisUrl, nodeArgs = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const proc = spawnOwned(name, process.execPath, [...nodeArgs, path.join(ROOT, 'bench/baselines', file)], {
    cwd: ROOT, env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl },
  });
  await waitUntil(async () => (await fetch(url, { method: 'POST' })).ok, { what: name, child: proc });
  return { url, process: proc };
}
