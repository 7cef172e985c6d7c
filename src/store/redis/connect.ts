import { Cluster, Redis, type RedisOptions as IoRedisOptions } from 'ioredis';
import { parseRedisUrl } from './url.js';

/** A single Redis (or a Sentinel-managed one) and a Redis Cluster answer the same commands. */
export type RedisClient = Redis | Cluster;

export interface RedisOptions {
  url: string;
  commandTimeoutMs: number;
}

/** Longest pause between reconnect attempts: recovery without a restart, without hammering. */
const MAX_RECONNECT_DELAY_MS = 2_000;
const retry = (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);

/**
 * A client that fails closed: no offline queue (a command while disconnected fails at once), a
 * per-command timeout, no per-request retries; it keeps reconnecting in the background. A single
 * Redis, a Sentinel-managed master or a Redis Cluster, through ioredis' own clients.
 */
export function connectRedis(opts: RedisOptions): RedisClient {
  const p = parseRedisUrl(opts.url);
  const common: IoRedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: Math.max(opts.commandTimeoutMs * 4, 1_000),
    maxRetriesPerRequest: 0,
    // Commands issued in the same tick share one socket write: under load that is most of them.
    enableAutoPipelining: true,
    retryStrategy: retry,
    ...(p.username ? { username: p.username } : {}),
    ...(p.password ? { password: p.password } : {}),
    ...(p.tls ? { tls: {} } : {}),
  };
  if (p.kind === 'cluster') {
    // No auto-pipelining here: ioredis' cluster pipelines refuse scripts whose keys span slot groups.
    return new Cluster(p.hosts, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: retry, redisOptions: { ...common, enableAutoPipelining: false } });
  }
  if (p.kind === 'sentinel') {
    if (!p.name) throw new Error('REDIS_URL: redis+sentinel:// needs the master name as its path');
    return new Redis({ ...common, sentinels: p.hosts, name: p.name, sentinelRetryStrategy: retry, ...(p.db ? { db: p.db } : {}) });
  }
  return new Redis({ ...common, host: p.hosts[0]!.host, port: p.hosts[0]!.port, ...(p.db ? { db: p.db } : {}) });
}

/** The oldest Redis the scripts run on (PEXPIRETIME is 7.0). */
export const MIN_REDIS_MAJOR = 7;

/** Refuses an older Redis at boot: otherwise every issuance would fail later, one by one. */
export async function assertRedisVersion(redis: Pick<RedisClient, 'info'>): Promise<void> {
  const version = /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1];
  if (!version || !(Number(version.split('.')[0]) >= MIN_REDIS_MAJOR)) {
    throw new Error(`Redis ${version ?? '(version unknown)'} is too old: agent-sts needs Redis ${MIN_REDIS_MAJOR}.0 or later`);
  }
}
