// Plain ESM for jest's globalSetup: builds dist/ once per run for the tests that start what users
// run (the built server, the agent-sts command, the package entries). Incremental: ~3 s when
// nothing changed, since tsconfig.build.json keeps its build info inside dist/.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BUILD_TIMEOUT_MS = 120_000;
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function build() {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, timeout: BUILD_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`npm run build failed: ${err.message}\n${stdout}${stderr}`, { cause: err }));
      else resolve();
    });
  });
}
