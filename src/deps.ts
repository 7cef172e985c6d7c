import type { Logger } from 'pino';
import { fanOut, logEventSink, type EventSink } from './audit/events.js';
import { AssertionKeys } from './clients/assertion-keys.js';
import { LiveRegistry } from './clients/live-registry.js';
import { readRegistryFile, type ParsedRegistryDocument } from './clients/registry-file.js';
import { seedRegistry, type RegistryMode } from './clients/seed.js';
import { VerifiedSecrets } from './clients/secret.js';
import type { Registry, TrustedIssuer } from './clients/types.js';
import type { Config } from './config/index.js';
import { loadKeyStore, type ReloadableKeyStore } from './keys/keystore.js';
import { rateLimits, type RateLimits } from './limits/rate-limits.js';
import { endpointsOf, type Endpoints } from './oauth/metadata.js';
import { UpstreamKeySets, upstreamVerifier, type UpstreamVerifier } from './oauth/upstream.js';
import { IdSource } from './sessions/ids.js';
import { SessionService, systemClock, type Clock } from './sessions/service.js';
import type { Stores } from './store/index.js';
import { redisKeys } from './store/keys.js';
import { MemoryRegistryStore } from './store/memory/registry-store.js';
import { MemorySessionStore } from './store/memory/session-store.js';
import type { RegistryStore } from './store/registry.js';
import { RedisRegistryStore } from './store/redis/registry-store.js';
import { assertRedisVersion, connectRedis, type RedisClient } from './store/redis/connect.js';
import { RedisSessionStore } from './store/redis/session-store.js';

export interface Deps {
  issuer: string;
  endpoints: Endpoints;
  registry: Registry;
  verifiedSecrets: VerifiedSecrets;
  assertionKeys: AssertionKeys;
  keys: ReloadableKeyStore;
  stores: Stores;
  replay: Stores['replay'];
  sessions: SessionService;
  upstream: UpstreamVerifier;
  events: EventSink;
  limits: RateLimits;
  trustProxy: Config['trustProxy'];
  /** The live registry and what the admin API manages it with; absent when a fixed registry was given. */
  liveRegistry?: LiveRegistryDeps;
  close(): Promise<void>;
}

export interface LiveRegistryDeps {
  live: LiveRegistry;
  store: RegistryStore;
  mode: RegistryMode;
  /** Ids the registry file names: read-only through the API in file mode. */
  fileIds: { agents: ReadonlySet<string>; resourceServers: ReadonlySet<string> };
}

export interface DepsOverrides {
  /** A fixed registry (no live registry, no registry admin API). */
  registry?: Registry;
  /** Instead of reading the registry file: the document that seeds the live registry. */
  registryDocument?: ParsedRegistryDocument;
  /** The live registry's store (default: Redis beside the sessions, or memory). */
  registryStore?: RegistryStore;
  stores?: Stores;
  events?: EventSink;
  clock?: Clock;
  /** With `stores`: the Redis client rate-limit counters use (absent: in memory). */
  redis?: RedisClient;
}

/** Redis when REDIS_URL is set (connected before the server listens), else the embedded memory store. */
export async function buildStores(config: Config, log: Logger): Promise<{ stores: Stores; redis?: RedisClient }> {
  if (!config.redisUrl) {
    log.warn('REDIS_URL is not set: using the embedded in-memory store. It is single-process and loses every session on exit; never use it in production.');
    const memory = new MemorySessionStore();
    return { stores: { sessions: memory, replay: memory } };
  }
  const redis = connectRedis({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  await redis.connect();
  await assertRedisVersion(redis);
  const store = new RedisSessionStore(redis, redisKeys(config.redisKeyPrefix));
  return { stores: { sessions: store, replay: store }, redis };
}

/** The one wiring file: everything the app needs, built from the config. */
export async function buildDeps(config: Config, log: Logger, overrides: DepsOverrides = {}): Promise<Deps> {
  const keys = await loadKeyStore(config.keysDir);
  const { stores, redis } = overrides.stores ? { stores: overrides.stores, redis: overrides.redis } : await buildStores(config, log);
  const events = overrides.events ? fanOut(log, logEventSink(log), overrides.events) : logEventSink(log);
  const clock = overrides.clock ?? systemClock;
  let liveRegistry: LiveRegistryDeps | undefined;
  if (!overrides.registry) {
    const doc = overrides.registryDocument ?? (await readRegistryFile(config.registryPath));
    const store = overrides.registryStore ?? (redis ? new RedisRegistryStore(redis, redisKeys(config.redisKeyPrefix)) : new MemoryRegistryStore());
    await seedRegistry(store, stores.sessions, doc, config.registryMode, log, clock.nowMs());
    const live = new LiveRegistry(store, doc.trustedIssuers as TrustedIssuer[], log, () => clock.nowMs());
    await live.start();
    liveRegistry = {
      live, store, mode: config.registryMode,
      fileIds: { agents: new Set(doc.agents.map((a) => a.id)), resourceServers: new Set(doc.resourceServers.map((r) => r.id)) },
    };
  }
  const registry = overrides.registry ?? liveRegistry!.live;
  const sessions = new SessionService(stores.sessions, keys, config.issuer, registry, events, clock, new IdSource());
  return {
    issuer: config.issuer,
    endpoints: endpointsOf(config.issuer),
    registry,
    verifiedSecrets: new VerifiedSecrets(),
    assertionKeys: new AssertionKeys(),
    keys,
    stores,
    replay: stores.replay,
    sessions,
    upstream: upstreamVerifier(registry, () => clock.nowMs(), new UpstreamKeySets()),
    events,
    limits: rateLimits(config.rateLimit, redisKeys(config.redisKeyPrefix).rateLimit, redis),
    trustProxy: config.trustProxy,
    ...(liveRegistry ? { liveRegistry } : {}),
    async close() {
      await liveRegistry?.live.close();
      await stores.sessions.close();
    },
  };
}
