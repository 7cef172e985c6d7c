// Child processes the benchmark starts, and what /proc says about them. Every process spawned here
// is registered and killed (by pid, its whole tree) when the benchmark exits, errors or is interrupted.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { clearTimeout } from 'node:timers';

const owned = new Set();
const exitHooks = [];

/** Runs `fn` (synchronous) after every owned process is killed, however the benchmark ends. */
export function atExit(fn) {
  exitHooks.push(fn);
}

/** Kills, by pid, every process this benchmark started and everything they forked, then runs the exit hooks. Synchronous. */
export function killAll() {
  for (const child of owned) killTree(child.pid);
  owned.clear();
  for (const fn of exitHooks.splice(0)) {
    try {
      fn();
    } catch {
      // best effort on the way out
    }
  }
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

function killTree(pid) {
  if (!pid) return;
  for (const p of [...descendants(pid), pid]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const STDERR_KEEP = 40;

/**
 * Spawns `cmd`; its stderr is kept (last lines) and shown if it dies early or fails to come up.
 * Returns the ChildProcess with `name`, `stderrTail()` and `stop()` attached.
 */
export function spawnOwned(name, cmd, args, { env, cwd } = {}) {
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  owned.add(child);
  const tail = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    for (const line of d.split('\n')) if (line.trim()) tail.push(line);
    if (tail.length > STDERR_KEEP) tail.splice(0, tail.length - STDERR_KEEP);
  });
  child.on('error', (err) => tail.push(`spawn error: ${err.message}`));
  child.once('exit', () => owned.delete(child));
  child.benchName = name;
  child.stderrTail = () => tail.join('\n');
  child.exited = () => child.exitCode !== null || child.signalCode !== null;
  /** SIGTERM, then SIGKILL (the whole tree) after graceMs. */
  child.stop = async (graceMs = 3_000) => {
    if (child.exited()) return;
    const tree = descendants(child.pid);
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => killTree(child.pid), graceMs);
    await gone;
    clearTimeout(timer);
    for (const p of tree) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // exited with its parent
      }
    }
    owned.delete(child);
  };
  return child;
}

// One free-port finder for tests and the benchmark.
export { freePort } from '../../test/helpers/redis-process.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true; fails after timeoutMs or as soon as `child` exits. */
export async function waitUntil(probe, { what, child, timeoutMs = 15_000, everyMs = 100 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child?.exited()) throw new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}):\n${child.stderrTail()}`);
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms${child ? `:\n${child.stderrTail()}` : ''}`);
    await sleep(everyMs);
  }
}

// ---- /proc ----

function ppidOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every live descendant pid of `pid` (node:cluster workers, for instance), from /proc. */
export function descendants(pid) {
  let all;
  try {
    all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
  const byParent = new Map();
  for (const p of all) {
    const pp = ppidOf(p);
    if (pp === undefined) continue;
    if (!byParent.has(pp)) byParent.set(pp, []);
    byParent.get(pp).push(p);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of byParent.get(queue.shift()) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux this runs on). */
export const CLK_TCK = 100;

/** CPU ticks (user+system) and RSS of one process; undefined when it is gone. */
export function procSample(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(f[11]) + Number(f[12]);
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuTicks, rssKb };
  } catch {
    return undefined;
  }
}

/** A process and its descendants, summed: CPU ticks, RSS, and how many processes. */
export function treeSample(pid) {
  let cpuTicks = 0;
  let rssKb = 0;
  let procs = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const s = procSample(p);
    if (!s) continue;
    cpuTicks += s.cpuTicks;
    rssKb += s.rssKb;
    procs += 1;
  }
  return { cpuTicks, rssKb, procs };
}
