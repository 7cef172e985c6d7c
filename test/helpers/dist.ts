import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { freePort } from './redis-process.mjs';

/** The repository root; jest's globalSetup has built dist/ there (test/helpers/build.mjs). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST = path.join(ROOT, 'dist');

/** A child process is killed past this; generous, since other test files load the machine too. */
const CHILD_TIMEOUT_MS = 15_000;

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` to completion (bounded), with only the given environment beyond PATH; `input` is written to its stdin. */
export function runNode(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      args,
      { cwd: opts.cwd ?? ROOT, env: { PATH: process.env.PATH, ...opts.env }, timeout: CHILD_TIMEOUT_MS },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A long-running `node <args>` whose output a test watches while it runs (e.g. `audit tail -f`). */
export interface RunningNode {
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches (bounded by CHILD_TIMEOUT_MS: then it rejects with what was printed). */
  waitFor(pattern: RegExp): Promise<void>;
  /** Sends `signal` and resolves with the exit code (null if killed by a signal it did not handle). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How often `waitFor` looks at the output. */
const OUTPUT_CHECK_MS = 20;

/** `node <args>` in `cwd` (default the repository), killed past `lifetimeMs` (default CHILD_TIMEOUT_MS) if still running. */
export function startNode(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; lifetimeMs?: number } = {}): RunningNode {
  const child = spawn(process.execPath, args, { cwd: opts.cwd ?? ROOT, env: { PATH: process.env.PATH, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = setTimeout(() => child.kill('SIGKILL'), opts.lifetimeMs ?? CHILD_TIMEOUT_MS);
  void exited.then(() => clearTimeout(kill));
  return {
    stdout: () => out,
    stderr: () => err,
    async waitFor(pattern) {
      const until = Date.now() + CHILD_TIMEOUT_MS;
      while (!pattern.test(out)) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`no ${pattern} in the output:\n${out}${err}`);
        await new Promise((r) => setTimeout(r, OUTPUT_CHECK_MS));
      }
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** How long the built server may take to listen; it also writes keys and a registry on a first start. */
const LISTEN_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 10_000;
/** A free port can be taken by someone else before the child binds it: try again, this many times. */
const PORT_ATTEMPTS = 3;

export interface BuiltServer {
  url: string;
  /** Everything it printed on stdout so far. */
  stdout(): string;
  /** SIGTERM, then SIGKILL past EXIT_TIMEOUT_MS; resolves when it has exited. */
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function spawnServer(cwd: string, env: NodeJS.ProcessEnv, port: number): Promise<BuiltServer | 'port taken'> {
  const child = spawn(process.execPath, [path.join(DIST, 'bin/agent-sts-server.js')], {
    cwd, env: { PATH: process.env.PATH, ...env, HOST: '127.0.0.1', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const started = await new Promise<'listening' | 'exited' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), LISTEN_TIMEOUT_MS);
    const check = () => {
      if (out.includes('"msg":"agent-sts listening"')) {
        clearTimeout(timer);
        resolve('listening');
      }
    };
    child.stdout.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve('exited');
    });
  });
  const server: BuiltServer = { url: `http://127.0.0.1:${port}`, stdout: () => out, stop: () => stopChild(child) };
  if (started === 'listening') return server;
  await server.stop();
  if (/EADDRINUSE|is already in use/.test(out + err)) return 'port taken';
  throw new Error(`the built server did not start (${started}):\n${out}${err}`);
}

/** `node dist/bin/agent-sts-server.js` in `cwd` with only `env` (and PATH), on a free loopback port. */
export async function startBuiltServer(cwd: string, env: NodeJS.ProcessEnv = {}): Promise<BuiltServer> {
  for (let attempt = 1; ; attempt++) {
    const started = await spawnServer(cwd, env, await freePort());
    if (started !== 'port taken') return started;
    if (attempt === PORT_ATTEMPTS) throw new Error(`no free port after ${PORT_ATTEMPTS} attempts`);
  }
}
