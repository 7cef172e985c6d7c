export default async function globalTeardown() {
  const child = globalThis.__STS_TEST_REDIS__;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // The setup unref'd the child; waiting on an unref'd child lets the event loop drain first, and
  // jest then ends with exit code 0 before it can report failed tests.
  child.ref();
  child.kill('SIGTERM');
  await exited;
}
