import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { ClientKind } from '../clients/types.js';
import { OAuthError } from '../errors.js';
import type { RedisClient } from '../store/redis/connect.js';

export interface RateLimitConfig {
  /** Requests allowed per window; 0 turns that limiter off. */
  perIp: number;
  perAgent: number;
  perResourceServer: number;
  windowSeconds: number;
}

/** Abuse limits on /token, /introspect and /revoke; each check throws 429 slow_down when exceeded. */
export interface RateLimits {
  /** Before authentication, by the caller's address (X-Forwarded-For only behind a trusted proxy). */
  ip(address: string): Promise<void>;
  /** After authentication, by client id: a caller cannot spend another client's budget. */
  client(kind: ClientKind, clientId: string): Promise<void>;
}

function limiter(points: number, windowSeconds: number, keyPrefix: string, redis: RedisClient | undefined): RateLimiterAbstract {
  const opts = { points, duration: windowSeconds, keyPrefix };
  if (!redis) return new RateLimiterMemory(opts);
  // When Redis cannot answer, the per-process insurance limiter decides instead of failing open.
  return new RateLimiterRedis({ ...opts, storeClient: redis, insuranceLimiter: new RateLimiterMemory(opts) });
}

function check(l: RateLimiterAbstract | undefined, what: string) {
  return async (key: string): Promise<void> => {
    if (!l) return;
    try {
      await l.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new OAuthError(429, 'slow_down', `too many requests ${what}`, { 'Retry-After': String(retryAfter) });
    }
  };
}

/** A limit of 0 turns that limiter off. Counters live in Redis when there is one, else in memory. */
export function rateLimits(cfg: RateLimitConfig, keyPrefix: (kind: 'ip' | 'client') => string, redis?: RedisClient): RateLimits {
  const make = (points: number, prefix: string) => (points > 0 ? limiter(points, cfg.windowSeconds, prefix, redis) : undefined);
  const ip = check(make(cfg.perIp, keyPrefix('ip')), 'from this address');
  const agent = check(make(cfg.perAgent, keyPrefix('client')), 'for this client');
  const resourceServer = check(make(cfg.perResourceServer, `${keyPrefix('client')}:rs`), 'for this client');
  return { ip, client: (kind, id) => (kind === 'agent' ? agent(id) : resourceServer(id)) };
}
