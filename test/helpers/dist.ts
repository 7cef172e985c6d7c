import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

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

/** Runs `node <args>` to completion (bounded), with only the given environment beyond PATH. */
export function runNode(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: opts.cwd ?? ROOT, env: { PATH: process.env.PATH, ...opts.env }, timeout: CHILD_TIMEOUT_MS },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
