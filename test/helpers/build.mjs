// Plain ESM for jest's globalSetup: builds dist/ once per run for the tests that start what users
// run (the built server, the agent-sts command, the gate's package entries): the gate's package
// first (packages/gate/dist, which the server's build and run resolve), then the server. Incremental:
// ~3 s when nothing changed, since each tsconfig.build.json keeps its build info inside its dist/.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BUILD_TIMEOUT_MS = 120_000;
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function tsc(project) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { cwd: ROOT, timeout: BUILD_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`npm run build failed (${project}): ${err.message}\n${stdout}${stderr}`, { cause: err }));
      else resolve();
    });
  });
}

export async function build() {
  await tsc('packages/gate/tsconfig.build.json');
  await tsc('tsconfig.build.json');
}
