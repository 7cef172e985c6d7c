#!/usr/bin/env node
import { main } from '../main.js';

main().catch((err: Error) => {
  process.stderr.write(`agent-sts failed to start: ${err.message}\n`);
  process.exit(1);
});
