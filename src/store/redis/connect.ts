import { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  commandTimeoutMs: number;
}

/** Longest pause between reconnect attempts: recovery without a restart, without hammering. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * A client that fails closed: no offline queue (a command while disconnected fails at once), a
 * per-command timeout, no per-request retries; it keeps reconnecting in the background.
 */
export function connectRedis(opts: RedisOptions): Redis {
  return new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: Math.max(opts.commandTimeoutMs * 4, 1_000),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
  });
}
