#!/usr/bin/env node
import { run } from '../cli/index.js';

run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`agent-sts: ${err.message}\n`);
    process.exitCode = 1;
  },
);
