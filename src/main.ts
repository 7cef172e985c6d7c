import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { createApp } from './app.js';
import { loadConfig, type Config } from './config/index.js';
import { buildDeps } from './deps.js';
import { ensureDevSetup } from './dev-bootstrap.js';
import { startMetricsServer } from './http/metrics-server.js';
import { createHttpServer } from './http/server.js';

/** How long in-flight requests get to finish on SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;
/** A worker that dies is replaced, but not faster than this, so a crash loop cannot spin the CPU. */
const WORKER_RESPAWN_DELAY_MS = 1_000;

/** Listening, or a one-line reason it cannot (the bin prints it and exits): a port in use is a message, not a stack trace. */
function listen(server: Server, config: Config): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const where = `${config.host}:${config.port}`;
      if (err.code === 'EADDRINUSE') reject(new Error(`${where} is already in use (another agent-sts still running?): stop it, or set PORT`));
      else if (err.code === 'EACCES') reject(new Error(`not allowed to listen on ${where}: set PORT to 1024 or above`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new Error(`HOST ${config.host} is not an address of this machine`));
      else reject(err);
    };
    server.once('error', failed);
    server.listen(config.port, config.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/** One serving process: build everything, listen, reload keys on SIGHUP, drain on SIGTERM. */
async function serve(config: Config, log: Logger): Promise<void> {
  const deps = await buildDeps(config, log);
  const server = createHttpServer(config, createApp(deps, log));
  deps.audit?.checkpoints.start(config.audit.checkpointIntervalMs, log);
  deps.usage?.start(config.usage.flushIntervalMs, log);
  deps.trailGuard.start(log);
  const metricsServer = await startMetricsServer(config, deps.metrics?.registry, log);
  if (metricsServer) log.info({ host: config.host, port: config.metricsPort }, 'GET /metrics listening (keep this port off the internet)');
  await listen(server, config);
  log.info({ issuer: config.issuer, host: config.host, port: config.port, store: config.redisUrl ? 'redis' : 'memory', pid: process.pid }, 'agent-sts listening');
  if (config.env === 'development') log.info({ console: `${config.issuer}/console/` }, `admin console at ${config.issuer}/console/`);
  process.on('SIGHUP', () => {
    deps.keys.reload().then(
      () => log.info({ kid: deps.keys.current().kid }, 'signing keys reloaded'),
      (err: Error) => log.error({ err: err.message }, 'key reload failed; keeping the previous keys'),
    );
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    metricsServer?.close();
    server.close(() => {
      void deps.close().finally(() => process.exit(0));
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** STS_WORKERS > 1: the primary forks workers that share the port and Redis, and relays signals. */
function supervise(config: Config, log: Logger): void {
  let stopping = false;
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    setTimeout(() => cluster.fork(), WORKER_RESPAWN_DELAY_MS);
  });
  const relay = (signal: NodeJS.Signals) => () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
  };
  process.on('SIGHUP', relay('SIGHUP'));
  const stop = (signal: NodeJS.Signals) => () => {
    stopping = true;
    relay(signal)();
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.once('SIGTERM', stop('SIGTERM'));
  process.once('SIGINT', stop('SIGINT'));
  log.info({ workers: config.workers }, 'agent-sts primary started');
}

/** pino-pretty is a dev dependency: `npm ci` installs it, a production install (`--omit=dev`) does not. */
function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Readable lines for a person at a terminal in development; JSON in production, in a pipe and wherever pino-pretty is absent. */
function createLogger(config: Config): Logger {
  const options = { level: config.logLevel, base: { service: 'agent-sts' } };
  if (config.env !== 'development' || !process.stdout.isTTY || !prettyInstalled()) return pino(options);
  return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service' } } });
}

/** Boots agent-sts from the environment; run by src/bin/agent-sts-server.ts, never on import. */
export async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config);
  if (cluster.isPrimary) await ensureDevSetup(config, log);
  if (cluster.isPrimary && config.workers > 1) supervise(config, log);
  else await serve(config, log);
}
