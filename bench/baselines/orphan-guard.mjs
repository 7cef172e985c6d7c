// A baseline server exits by itself if the benchmark that started it dies without cleaning up.
import { setInterval } from 'node:timers';
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1_000).unref();
// Stopped by SIGTERM, exit normally: `node --cpu-prof` (bench/profile.mjs) writes its profile only then.
process.on('SIGTERM', () => process.exit(0));
