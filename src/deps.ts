import type { Logger } from 'pino';
import { proofKeyCache, type ProofKeyCache } from 'agent-sts-gate/dpop';
import { Checkpoints } from './audit/checkpoint.js';
import { fanOut, logEventSink, type EventSink } from './audit/events.js';
import { TrailGuard } from './audit/guard.js';
import { trailSink } from './audit/trail.js';
import { UsageAggregator, usageSink } from './audit/usage.js';
import { AssertionKeys } from './clients/assertion-keys.js';
import { LiveRegistry } from './clients/live-registry.js';
import { readRegistryFile, type ParsedRegistryDocument } from './clients/registry-file.js';
import { seedRegistry, type RegistryMode } from './clients/seed.js';
import { VerifiedSecrets } from './clients/secret.js';
import type { Registry, TrustedIssuer } from './clients/types.js';
import type { Config } from './config/index.js';
import { StsMetrics } from './http/metrics.js';
import { loadKeyStore, type ReloadableKeyStore } from './keys/keystore.js';
import { rateLimits, type RateLimits } from './limits/rate-limits.js';
import { endpointsOf, type Endpoints } from './oauth/metadata.js';
import { clientCredentialsGrant } from './oauth/grants/client-credentials.js';
import { jwtBearerGrant } from './oauth/grants/jwt-bearer.js';
import { GrantList } from './oauth/grants/list.js';
import { tokenExchangeGrant } from './oauth/grants/token-exchange.js';
import { UpstreamKeySets } from './oauth/upstream/key-sets.js';
import { idJagProfile } from './oauth/upstream/id-jag.js';
import { subjectTokenVerifiers } from './oauth/upstream/subject-token.js';
import { upstreamVerifier } from './oauth/upstream/verify.js';
import { ProbeSchedule } from './admin/probe-schedule.js';
import { PushAddressPolicy, type Resolve } from './push/address-policy.js';
import { PushDelivery, type DeliveryHooks } from './push/delivery.js';
import type { SsfDeps } from './push/poll.js';
import { ssfSink } from './push/sink.js';
import { Wakeups } from './push/wakeups.js';
import { IdSource } from './sessions/ids.js';
import { RegistryService, type RegistryServiceDeps } from './registry/service.js';
import { KillAnnouncer } from './sessions/announcer.js';
import { systemClock, type Clock } from './sessions/clock.js';
import { SessionService } from './sessions/service.js';
import type { ReplayStore, Stores } from './store/index.js';
import { redisKeys } from './store/keys.js';
import type { AuditLog } from './store/audit.js';
import type { UsageStore } from './store/usage.js';
import { MemoryAuditLog } from './store/memory/audit-log.js';
import { MemorySessionStore } from './store/memory/session-store.js';
import { MemoryUsageStore } from './store/memory/usage-store.js';
import { RedisUsageStore } from './store/redis/usage-store.js';
import { MemorySsfStore } from './store/memory/ssf-store.js';
import { RedisSsfStore } from './store/redis/ssf-store.js';
import { MemoryProbeStore } from './store/memory/probe-store.js';
import { RedisProbeStore } from './store/redis/probe-store.js';
import { MemoryScimSeenStore } from './store/memory/scim-seen-store.js';
import { RedisScimSeenStore } from './store/redis/scim-seen-store.js';
import { RedisAuditLog } from './store/redis/audit-log.js';
import { MemoryRegistryStore } from './store/memory/registry-store.js';
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
  /** The grants the token endpoint offers: the one list (see grantsOf). */
  grants: GrantList;
  events: EventSink;
  /** In front of the trail's sink: bounds every record's fields, counts unauthenticated refusals per window (start() its timer). */
  trailGuard: TrailGuard;
  limits: RateLimits;
  trustProxy: Config['trustProxy'];
  /** Imported DPoP proof keys, so an agent's key is imported once, not on every /token request. */
  dpopKeys: ProofKeyCache;
  /** The audit trail and its checkpoints; absent when STS_AUDIT_TRAIL=off. */
  audit?: { trail: AuditLog; checkpoints: Checkpoints };
  /** Usage counts (issuance and introspection); absent when STS_USAGE=off. */
  usage?: UsageAggregator;
  usageStore?: UsageStore;
  config: Pick<Config, 'audit' | 'usage' | 'env'>;
  /** Revocation events for resource servers (SSF poll); absent when STS_SSF=off. */
  ssf?: SsfDeps;
  /** Where push endpoints and probe targets may point and the server may connect to them: production only (development and test go anywhere, over http too). */
  pushPolicy?: PushAddressPolicy;
  /** The scheduled enforcement probe; absent unless STS_PROBE_INTERVAL_MINUTES is set (and the registry is live). */
  probeSchedule?: ProbeSchedule;
  /** The live registry and what the admin API manages it with; absent when a fixed registry was given. */
  liveRegistry?: LiveRegistryDeps;
  /** Prometheus metrics (GET /metrics on STS_METRICS_PORT); absent when it is unset. */
  metrics?: StsMetrics;
  /** Finishes kills whose record or announcement never landed (the kill outbox). */
  announcer: KillAnnouncer;
  close(): Promise<void>;
}

export interface LiveRegistryDeps {
  live: LiveRegistry;
  store: RegistryStore;
  mode: RegistryMode;
  /** Every registry change, all or nothing (the admin API, and later SCIM, translate into its calls). */
  service: RegistryService;
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
  /** What SSF push delivery reports (lag, failing receivers), for a metrics collector. */
  pushHooks?: DeliveryHooks;
  /** How push delivery resolves host names (default: the system resolver), so a test can make a name resolve anywhere. */
  pushResolve?: Resolve;
  /** With `stores`: the Redis client rate-limit counters use (absent: in memory). */
  redis?: RedisClient;
}

/** Redis when REDIS_URL is set (connected before the server listens), else the embedded memory store. */
export async function buildStores(config: Config, log: Logger, clock: Clock = systemClock): Promise<{ stores: Stores; redis?: RedisClient }> {
  if (!config.redisUrl) {
    log.warn('REDIS_URL is not set: using the embedded in-memory store. It is single-process and loses every session on exit; never use it in production.');
    const memory = new MemorySessionStore(() => clock.nowMs());
    return { stores: { sessions: memory, replay: memory, audit: new MemoryAuditLog(), usage: new MemoryUsageStore(), ssf: new MemorySsfStore(), probes: new MemoryProbeStore(), scimSeen: new MemoryScimSeenStore() } };
  }
  const redis = connectRedis({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  await redis.connect();
  await assertRedisVersion(redis);
  const keys = redisKeys(config.redisKeyPrefix);
  const store = new RedisSessionStore(redis, keys);
  return {
    stores: { sessions: store, replay: store, audit: new RedisAuditLog(redis, keys), usage: new RedisUsageStore(redis, keys), ssf: new RedisSsfStore(redis, keys), probes: new RedisProbeStore(redis, keys), scimSeen: new RedisScimSeenStore(redis, keys) },
    redis,
  };
}

/** The one wiring file: everything the app needs, built from the config. */
export async function buildDeps(config: Config, log: Logger, overrides: DepsOverrides = {}): Promise<Deps> {
  const keys = await loadKeyStore(config.keysDir);
  const clock = overrides.clock ?? systemClock;
  const { stores, redis } = overrides.stores ? { stores: overrides.stores, redis: overrides.redis } : await buildStores(config, log, clock);
  const nowMs = () => clock.nowMs();
  const trail = config.audit.enabled ? stores.audit : undefined;
  const checkpoints = trail && new Checkpoints(trail, keys, config.issuer, nowMs);
  // With the trail on, its sink writes each record's log line (with seq and hash) in place of the plain one;
  // either way behind the guard: bounded fields, unauthenticated refusals counted per window.
  const trailGuard = new TrailGuard(trail && checkpoints
    ? trailSink(trail, log, { retention: config.audit, nowMs, afterAdminChange: () => checkpoints.sign() })
    : logEventSink(log), nowMs);
  const base: EventSink = trailGuard;
  const usage = config.usage.enabled && stores.usage ? new UsageAggregator(stores.usage, config.usage.retentionDays) : undefined;
  const metrics = config.metricsPort !== undefined ? new StsMetrics(stores.sessions, nowMs) : undefined;
  if (metrics && redis) metrics.watchRedis(redis, stores.sessions);
  const ssfStore = config.ssf.enabled ? stores.ssf : undefined;
  const ssf: SsfDeps | undefined = ssfStore && {
    store: ssfStore, retentionMs: config.ssf.retentionMs, longPollMs: config.ssf.longPollMs,
    wakeups: new Wakeups({ maxPerAudience: config.ssf.maxLongPolls, head: (aud) => ssfStore.head(aud) }),
  };
  // Long polls here wake on every instance's appends; the recheck catches a wake-up pub/sub lost.
  const stopHearing = ssf && (await ssf.store.subscribe((aud) => ssf.wakeups.notify(aud)));
  ssf?.wakeups.start();
  // Delivery needs the event sink (to report failing receivers) and the sink kicks delivery: bound once both exist.
  let delivery: PushDelivery | undefined;
  const ssfEvents = ssf && ssfSink({
    store: ssf.store, keys, issuer: config.issuer, retentionMs: ssf.retentionMs, nowMs, wakeups: ssf.wakeups, appended: () => delivery?.kick(),
  });
  const sinks = [base, ...(usage ? [usageSink(usage)] : []), ...(metrics ? [metrics.sink()] : []), ...(ssfEvents ? [ssfEvents] : []), ...(overrides.events ? [overrides.events] : [])];
  const events = sinks.length === 1 ? base : fanOut(log, ...sinks);
  // One set of address rules for everything the server connects to at an operator's word: push delivery and the scheduled probe.
  const pushPolicy = config.env === 'production' ? new PushAddressPolicy(config.ssf.pushAllow, overrides.pushResolve) : undefined;
  if (ssf) {
    delivery = new PushDelivery({
      store: ssf.store, retentionMs: ssf.retentionMs, nowMs, timeoutMs: config.ssf.pushTimeoutMs, retryMs: config.ssf.pushRetryMs, events, log,
      hooks: deliveryHooks(metrics, overrides.pushHooks), ...(pushPolicy ? { policy: pushPolicy } : {}),
    });
    delivery.start();
    ssf.delivery = delivery;
    ssf.httpPushAllowed = config.env !== 'production';
  }
  let registrySetup: Omit<LiveRegistryDeps, 'service'> & { fileIds: RegistryServiceDeps['fileIds'] } | undefined;
  if (!overrides.registry) {
    const doc = overrides.registryDocument ?? (await readRegistryFile(config.registryPath));
    const store = overrides.registryStore ?? (redis ? new RedisRegistryStore(redis, redisKeys(config.redisKeyPrefix)) : new MemoryRegistryStore());
    await seedRegistry(store, stores.sessions, doc, config.registryMode, log, clock.nowMs());
    const live = new LiveRegistry(store, doc.trustedIssuers as TrustedIssuer[], log, () => clock.nowMs());
    await live.start();
    registrySetup = {
      live, store, mode: config.registryMode,
      fileIds: { agents: new Set(doc.agents.map((a) => a.id)), resourceServers: new Set(doc.resourceServers.map((r) => r.id)) },
    };
  }
  const registry = overrides.registry ?? registrySetup!.live;
  const announcer = new KillAnnouncer(stores.sessions, events, clock, (err) => log.warn({ err: (err as Error).message }, 'kill outbox sweep failed; the next sweep retries'));
  announcer.start();
  if (ssf) ssf.announcer = announcer;
  const sessions = new SessionService(stores.sessions, keys, config.issuer, registry, events, { clock, ids: new IdSource(), announcer });
  const grants = grantsOf(sessions, registry, stores.replay, nowMs);
  metrics?.countGrants(grants.types);
  let liveRegistry: LiveRegistryDeps | undefined;
  if (registrySetup) {
    const { fileIds, ...setup } = registrySetup;
    const service = new RegistryService({
      ...setup, fileIds, sessions, sessionStore: stores.sessions, events, clock,
      ...(stores.usage ? { usage: { store: stores.usage, ...(usage ? { aggregator: usage } : {}), retentionDays: config.usage.retentionDays } } : {}),
      onSweepError: (err) => log.warn({ err: (err as Error).message }, 'registry sweep failed; the next sweep retries'),
    });
    service.start();
    liveRegistry = { ...setup, service };
  }
  const probeSchedule = config.probe.intervalMs > 0 && liveRegistry && stores.probes ? new ProbeSchedule({
    intervalMs: config.probe.intervalMs, store: stores.probes, registry, service: liveRegistry.service, sessions, events, issuer: config.issuer, log,
    ...(pushPolicy ? { policy: pushPolicy } : {}),
  }) : undefined;
  if (config.probe.intervalMs > 0 && !probeSchedule) log.warn('STS_PROBE_INTERVAL_MINUTES is set, but scheduled probes need the live registry and a probe store: not probing');
  probeSchedule?.start();
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
    grants,
    events,
    trailGuard,
    limits: rateLimits(config.rateLimit, redisKeys(config.redisKeyPrefix).rateLimit, redis),
    trustProxy: config.trustProxy,
    dpopKeys: proofKeyCache(),
    ...(trail && checkpoints ? { audit: { trail, checkpoints } } : {}),
    ...(usage ? { usage } : {}),
    ...(stores.usage ? { usageStore: stores.usage } : {}),
    config: { audit: config.audit, usage: config.usage, env: config.env },
    ...(liveRegistry ? { liveRegistry } : {}),
    ...(metrics ? { metrics } : {}),
    ...(ssf ? { ssf } : {}),
    announcer,
    ...(pushPolicy ? { pushPolicy } : {}),
    ...(probeSchedule ? { probeSchedule } : {}),
    async close() {
      probeSchedule?.close();
      announcer.close();
      liveRegistry?.service.close();
      delivery?.close();
      trailGuard.close();
      ssf?.wakeups.close();
      await stopHearing?.();
      await liveRegistry?.live.close();
      await stores.sessions.close();
    },
  };
}

/**
 * The grants this server offers, and the single place that says so (fosite's compose/): each
 * factory gets only what its grant needs; every upstream profile verifies over one set of trusted
 * issuers' key sets. A new grant is a module in src/oauth/grants/ and a line here.
 */
export function grantsOf(sessions: SessionService, registry: Registry, replay: ReplayStore, nowMs: () => number): GrantList {
  const upstream = { registry, keySets: new UpstreamKeySets(), nowMs };
  return new GrantList([
    clientCredentialsGrant({ sessions }),
    tokenExchangeGrant({ sessions, registry, userTokens: subjectTokenVerifiers(upstream) }),
    jwtBearerGrant({ sessions, replay, assertions: upstreamVerifier(idJagProfile(sessions.issuer), upstream) }),
  ]);
}

/**
 * Push delivery reports to the metrics (lag and failures; registered on the first delivery, so a
 * service that pushes nothing shows no delivery series) and to a test's hooks.
 */
function deliveryHooks(metrics: StsMetrics | undefined, extra: DeliveryHooks | undefined): DeliveryHooks {
  return {
    delivered: (aud, lagMs) => {
      metrics?.delivery().delivered(lagMs / 1000);
      extra?.delivered?.(aud, lagMs);
    },
    failed: (aud, attempts, error) => {
      metrics?.delivery().failed();
      extra?.failed?.(aud, attempts, error);
    },
  };
}
