// One real redis-server on a free loopback port for the whole run; each test file isolates itself with
// its own key prefix. Tests that crash, pause or restart Redis start their own (redis-server.ts).
// Meanwhile dist/ is built, for the tests that run the built server and command.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from './build.mjs';
import { freePort, spawnRedis } from './redis-process.mjs';

export default async function globalSetup() {
  const built = build();
  const port = await freePort();
  const child = await spawnRedis(port, mkdtempSync(path.join(tmpdir(), 'agent-sts-redis-')));
  child.unref(); // the teardown stops it; it must not hold jest's event loop open meanwhile
  globalThis.__STS_TEST_REDIS__ = child;
  process.env.STS_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
  await built;
}
