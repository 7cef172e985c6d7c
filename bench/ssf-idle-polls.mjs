// node bench/ssf-idle-polls.mjs (after npm run build): what idle SSF long polls cost Redis. Starts its
// own redis-server and one agent-sts on loopback, holds SSF_IDLE_POLLS long polls of one resource
// server open (no kill, nothing to read), and counts the commands Redis processed over
// SSF_IDLE_WINDOW_MS (INFO stats, our own INFO calls subtracted). Bounded: one window, then it stops.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { API, SECRET, prepareFiles, startAgentSts } from './lib/agent-sts.mjs';
import { basic } from './lib/http.mjs';
import { atExit, killAll, sleep } from './lib/procs.mjs';
import { startRedis } from './lib/redis.mjs';

const POLLS = Number(process.env.SSF_IDLE_POLLS ?? 40);
const WINDOW_MS = Number(process.env.SSF_IDLE_WINDOW_MS ?? 10_000);
/** Long enough that no poll ends inside the window. */
const LONG_POLL_MS = WINDOW_MS + 10_000;
const SETTLE_MS = 1_000;

/** Commands processed (those scripts run included) and calls per command, from INFO. */
async function counts(client) {
  const info = await client.info('all');
  const calls = Object.fromEntries([...info.matchAll(/^cmdstat_(\S+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  return { commands: Number(/^total_commands_processed:(\d+)/m.exec(info)[1]), calls };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-sts-ssf-idle-'));
atExit(() => rmSync(dir, { recursive: true, force: true }));
try {
  const redis = await startRedis(dir);
  const sts = await startAgentSts({
    redisUrl: redis.url, files: prepareFiles(dir), env: { STS_SSF_LONG_POLL_MS: String(LONG_POLL_MS), STS_SSF_MAX_LONG_POLLS: String(POLLS) },
  });
  const stop = new globalThis.AbortController();
  const poll = (i) => fetch(`${sts.base}/ssf/poll`, {
    method: 'POST', signal: stop.signal,
    headers: { authorization: basic(API, SECRET), 'content-type': 'application/json' },
    body: JSON.stringify({ stream: `idle-${i}`, returnImmediately: false }),
  }).then((r) => r.status, () => undefined);
  const answers = Array.from({ length: POLLS }, (_, i) => poll(i));
  await sleep(SETTLE_MS);
  const before = await counts(redis.client);
  await sleep(WINDOW_MS);
  const after = await counts(redis.client);
  stop.abort();
  const early = {};
  for (const status of await Promise.all(answers)) if (status !== undefined) early[status] = (early[status] ?? 0) + 1;
  // one INFO call is counted in `after`
  const commands = after.commands - before.commands - 1;
  const delta = Object.entries(after.calls).map(([c, n]) => [c, n - (before.calls[c] ?? 0) - (c === 'info' ? 1 : 0)]).filter(([, n]) => n > 0);
  const scripts = delta.filter(([c]) => c === 'evalsha' || c === 'eval').reduce((n, [, d]) => n + d, 0);
  const rate = (n) => ((n * 1000) / WINDOW_MS).toFixed(1);
  console.log(`${POLLS} idle long polls of one resource server, ${WINDOW_MS} ms: ${commands} Redis commands (${rate(commands)}/s), ${scripts} scripts (${rate(scripts)}/s); polls answered before the end, by status: ${JSON.stringify(early)}`);
  console.log(`by command: ${delta.sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
  await sts.stop();
  await redis.close();
} finally {
  killAll();
}
