#!/usr/bin/env node
// `npm start`: build only when a source changed since the last build this script made, then run
// the server in this very process (its pid is the server's: signals sent to it reach the server).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Everything the build reads: a change to any of these means dist/ may be stale. */
const INPUTS = [
  'src', 'packages/gate/src', 'tsconfig.json', 'tsconfig.build.json', 'packages/gate/tsconfig.json', 'packages/gate/tsconfig.build.json',
  'package.json', 'packages/gate/package.json', 'package-lock.json',
];
/** Written after a build this script ran: its mtime is when dist/ was last made from the inputs. */
const STAMP = path.join(ROOT, 'dist/.start-stamp');
const SERVER = path.join(ROOT, 'dist/bin/agent-sts-server.js');

/** The newest mtime (ms) under `p`, a file or a folder. */
function newest(p) {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted file changes its folder's mtime
  for (const entry of readdirSync(p)) max = Math.max(max, newest(path.join(p, entry)));
  return max;
}

const built = existsSync(STAMP) && existsSync(SERVER) ? statSync(STAMP).mtimeMs : 0;
const changed = Math.max(...INPUTS.map((p) => newest(path.join(ROOT, p))));
if (changed >= built) {
  process.stderr.write(built ? 'sources changed since the last build: building…\n' : 'no build yet: building…\n');
  const npm = process.env.npm_execpath;
  const build = npm ? spawnSync(process.execPath, [npm, 'run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' })
    : spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}
await import(SERVER);
