import { createServer } from 'node:http';
import { pino } from 'pino';
import { createApp } from './app.js';
import { loadConfig } from './config/index.js';
import { buildDeps } from './deps.js';
import { ensureDevSetup } from './dev-bootstrap.js';

/** How long in-flight requests get to finish on SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { service: 'agent-sts' } });
  await ensureDevSetup(config, log);
  const deps = await buildDeps(config, log);
  const server = createServer(createApp(deps, log));
  server.listen(config.port, config.host, () => {
    log.info({ issuer: config.issuer, port: config.port, store: config.redisUrl ? 'redis' : 'memory' }, 'agent-sts listening');
  });

  process.on('SIGHUP', () => {
    deps.keys.reload().then(
      () => log.info({ kid: deps.keys.current().kid }, 'signing keys reloaded'),
      (err: Error) => log.error({ err: err.message }, 'key reload failed; keeping the previous keys'),
    );
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    server.close(() => {
      void deps.stores.sessions.close().finally(() => process.exit(0));
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  process.stderr.write(`agent-sts failed to start: ${err.message}\n`);
  process.exit(1);
});
