import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RequestListener } from 'node:http';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import request from 'supertest';
import { clientSecretBasic } from 'agent-sts-gate/protocol';
import { createApp } from '../../src/app.js';
import { RecordingEventSink } from '../../src/audit/events.js';
import { parseRegistry, parseRegistryDocument, type RegistryDocument } from '../../src/clients/registry-file.js';
import type { RegistryStore } from '../../src/store/registry.js';
import { hashSecret } from '../../src/clients/secret.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { buildDeps, type Deps } from '../../src/deps.js';
import type { Resolve } from '../../src/push/address-policy.js';
import { addKey } from '../../src/keys/keystore.js';
import type { Clock } from '../../src/sessions/clock.js';
import { MemoryRegistryStore } from '../../src/store/memory/registry-store.js';
import type { Faults } from './faults.js';
import type { ReplayStore, SessionStore, Stores } from '../../src/store/index.js';
import { redisKeys, type RedisKeys } from '../../src/store/keys.js';
import { MemoryAuditLog } from '../../src/store/memory/audit-log.js';
import { MemorySessionStore } from '../../src/store/memory/session-store.js';
import { RedisAuditLog } from '../../src/store/redis/audit-log.js';
import { RedisUsageStore } from '../../src/store/redis/usage-store.js';
import { RedisSsfStore } from '../../src/store/redis/ssf-store.js';
import { MemorySsfStore } from '../../src/store/memory/ssf-store.js';
import { MemoryProbeStore } from '../../src/store/memory/probe-store.js';
import { RedisProbeStore } from '../../src/store/redis/probe-store.js';
import { RedisScimSeenStore } from '../../src/store/redis/scim-seen-store.js';
import { MemoryScimSeenStore } from '../../src/store/memory/scim-seen-store.js';
import { MemoryUsageStore } from '../../src/store/memory/usage-store.js';
import { connectRedis, type RedisClient } from '../../src/store/redis/connect.js';
import { RedisRegistryStore } from '../../src/store/redis/registry-store.js';
import { RedisSessionStore } from '../../src/store/redis/session-store.js';
import { parseRedisUrl } from '../../src/store/redis/url.js';
import type { StateSource } from './state.js';

export { redisState, snapshot, tombstones } from './state.js';

export const ISSUER = 'http://sts.test';
export const API = 'https://api.example.com';
export const OTHER_API = 'https://other.example.com';
export const ADMIN_AUD = 'urn:agent-sts:admin';
export const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Fixed test secrets (32+ characters), so tests can authenticate as anyone in the registry. */
export const SECRETS: Record<string, string> = {
  'billing-agent': 'billing-agent-secret-0123456789abcdef',
  'sub-agent': 'sub-agent-secret-0123456789abcdefghij',
  'leaf-agent': 'leaf-agent-secret-0123456789abcdefghi',
  'outsider-agent': 'outsider-agent-secret-0123456789abcdef',
  'no-exchange-agent': 'no-exchange-agent-secret-0123456789ab',
  'disabled-agent': 'disabled-agent-secret-0123456789abcde',
  admin: 'admin-secret-0123456789abcdefghijklmnop',
  'reader-admin': 'reader-admin-secret-0123456789abcdefgh',
  auditor: 'auditor-secret-0123456789abcdefghijklmn',
  [API]: 'api-resource-server-secret-0123456789ab',
  [OTHER_API]: 'other-resource-server-secret-01234567',
};

/**
 * The test registry: billing-agent may delegate to sub-agent, which may delegate to leaf-agent;
 * the chain allows depth 2. Extra agents cover each refusal.
 */
export function testRegistry(extra: Partial<RegistryDocument> = {}): RegistryDocument {
  const h = (id: string) => hashSecret(SECRETS[id]!);
  return {
    agents: [
      {
        id: 'billing-agent', owner: 'team-billing', secretHash: h('billing-agent'),
        audiences: { [API]: ['invoices:read', 'invoices:write'], [OTHER_API]: ['reports:read'] },
        maxTokenTtlSeconds: 300, maxDelegationDepth: 2, grantTypes: ['client_credentials', EXCHANGE], delegates: ['sub-agent'],
      },
      {
        id: 'sub-agent', secretHash: h('sub-agent'), audiences: { [API]: ['invoices:read', 'invoices:write'] },
        maxTokenTtlSeconds: 120, maxDelegationDepth: 5, grantTypes: ['client_credentials', EXCHANGE], delegates: ['leaf-agent'],
      },
      {
        id: 'leaf-agent', secretHash: h('leaf-agent'), audiences: { [API]: ['invoices:read'] },
        maxTokenTtlSeconds: 60, maxDelegationDepth: 5, grantTypes: ['client_credentials', EXCHANGE],
      },
      {
        id: 'outsider-agent', secretHash: h('outsider-agent'), audiences: { [API]: ['invoices:read'] },
        maxTokenTtlSeconds: 60, maxDelegationDepth: 2, grantTypes: ['client_credentials', EXCHANGE],
      },
      { id: 'no-exchange-agent', secretHash: h('no-exchange-agent'), audiences: { [API]: ['invoices:read'] } },
      { id: 'disabled-agent', secretHash: h('disabled-agent'), audiences: { [API]: ['invoices:read'] }, disabled: true },
      { id: 'admin', secretHash: h('admin'), audiences: { [ADMIN_AUD]: ['sessions:read', 'sessions:kill'] } },
      { id: 'reader-admin', secretHash: h('reader-admin'), audiences: { [ADMIN_AUD]: ['sessions:read'] } },
      { id: 'auditor', secretHash: h('auditor'), audiences: { [ADMIN_AUD]: ['audit:read', 'agents:read'] } },
      ...(extra.agents ?? []),
    ],
    resourceServers: [
      { id: API, secretHash: h(API), scopes: ['invoices:read', 'invoices:write'] },
      { id: OTHER_API, secretHash: h(OTHER_API), scopes: ['reports:read'] },
      ...(extra.resourceServers ?? []),
    ],
    trustedIssuers: extra.trustedIssuers ?? [],
  };
}

export type StoreKind = 'redis' | 'memory';

export interface TestSts {
  app: RequestListener;
  deps: Deps;
  config: Config;
  events: RecordingEventSink;
  /** Present for a single Redis: a raw client and the key layout, to assert the state in Redis. */
  redis?: Redis;
  keys?: RedisKeys;
  prefix: string;
  /** What redisState, snapshot and tombstones read (see state.ts). */
  state: StateSource;
  close(): Promise<void>;
}

export interface TestStsOptions {
  store?: StoreKind;
  registry?: RegistryDocument;
  clock?: Clock;
  redisUrl?: string;
  issuer?: string;
  commandTimeoutMs?: number;
  /** Requests per 60-second window (long, so a slow run never crosses it); off unless a test is about limits. */
  rateLimit?: { perIp?: number; perAgent?: number; perResourceServer?: number };
  trustProxy?: string;
  /** A keys dir used as it is (default: a fresh one with one ES256 key). */
  keysDir?: string;
  /** false: no audit trail (STS_AUDIT_TRAIL=off). */
  audit?: boolean;
  /** STS_SSF_LONG_POLL_MS (default here 200, so a waiting poll never holds a test up). */
  ssfLongPollMs?: number;
  /** STS_SSF_MAX_LONG_POLLS (default 32). */
  ssfMaxLongPolls?: number;
  /** STS_SSF_PUSH_RETRY_MS (default 1000). */
  ssfPushRetryMs?: number;
  /** STS_SSF_PUSH_TIMEOUT_MS (default 5000). */
  ssfPushTimeoutMs?: number;
  /** NODE_ENV=production (with REDIS_URL set and an https issuer, default https://sts.test): push endpoints follow the address rules. */
  production?: boolean;
  /** STS_SSF_PUSH_ALLOW (production only). */
  ssfPushAllow?: string;
  /** How push delivery resolves host names, instead of DNS. */
  pushResolve?: Resolve;
  /** STS_PROBE_INTERVAL_MINUTES (default 0: no scheduled probe). */
  probeIntervalMinutes?: number;
  /** Audit retention by length (STS_AUDIT_MAX_RECORDS). */
  auditMaxRecords?: number;
  /**
   * The live registry (seeded from `registry`) instead of a fixed one: the registry admin API is
   * served. With `prefix` (and the same redisUrl), a second instance shares the first one's Redis state.
   */
  live?: boolean;
  /** STS_REGISTRY_MODE (live registry only). */
  registryMode?: 'store' | 'file';
  /** Key prefix to share with another instance (default: a fresh one). */
  prefix?: string;
  /** Live registry on Redis: wraps its store (e.g. one that never hears a change: a stale copy). */
  wrapRegistryStore?: (real: RegistryStore) => RegistryStore;
  /** Memory store only: the stores to share with another instance. */
  shared?: { stores: Stores; registryStore: RegistryStore };
  /** STS_METRICS_PORT: metrics are collected (deps.metrics); the test starts the listener itself. */
  metricsPort?: number;
  /**
   * Every store (sessions, audit, ssf, usage, registry) behind this switchboard, so a test can make
   * any one method fail as an outage at an exact cut point (see helpers/faults.ts).
   */
  faults?: Faults;
  /** Redis store only: wraps the real store (fault injection); the app uses the wrapper as its stores. */
  wrapStore?: (real: RedisSessionStore, keys: RedisKeys) => SessionStore & ReplayStore;
}

export function testRedisUrl(): string {
  const url = process.env.STS_TEST_REDIS_URL;
  if (!url) throw new Error('STS_TEST_REDIS_URL is not set: run the tests through jest (globalSetup starts redis-server)');
  return url;
}

/** A whole agent-sts app on a real store, with its own key prefix so test files never collide. */
export async function startSts(opts: TestStsOptions = {}): Promise<TestSts> {
  const kind = opts.store ?? 'redis';
  const issuer = opts.issuer ?? (opts.production ? 'https://sts.test' : ISSUER);
  let keysDir = opts.keysDir;
  if (!keysDir) {
    keysDir = mkdtempSync(path.join(tmpdir(), 'agent-sts-keys-'));
    await addKey(keysDir);
  }
  const prefix = opts.prefix ?? `test:${randomBytes(6).toString('hex')}:`;
  const config = loadConfig({
    NODE_ENV: opts.production ? 'production' : 'test', STS_ISSUER: issuer,
    ...(opts.production ? { REDIS_URL: opts.redisUrl ?? testRedisUrl() } : {}), STS_KEYS_DIR: keysDir, REDIS_KEY_PREFIX: prefix,
    STS_RATE_LIMIT_PER_IP: String(opts.rateLimit?.perIp ?? 0),
    STS_RATE_LIMIT_PER_AGENT: String(opts.rateLimit?.perAgent ?? 0),
    STS_RATE_LIMIT_PER_RESOURCE_SERVER: String(opts.rateLimit?.perResourceServer ?? 0),
    STS_RATE_LIMIT_WINDOW_SECONDS: '60',
    STS_AUDIT_TRAIL: opts.audit === false ? 'off' : 'on',
    STS_SSF_LONG_POLL_MS: String(opts.ssfLongPollMs ?? 200),
    ...(opts.ssfPushRetryMs !== undefined ? { STS_SSF_PUSH_RETRY_MS: String(opts.ssfPushRetryMs) } : {}),
    ...(opts.ssfPushTimeoutMs !== undefined ? { STS_SSF_PUSH_TIMEOUT_MS: String(opts.ssfPushTimeoutMs) } : {}),
    ...(opts.ssfPushAllow !== undefined ? { STS_SSF_PUSH_ALLOW: opts.ssfPushAllow } : {}),
    ...(opts.ssfMaxLongPolls !== undefined ? { STS_SSF_MAX_LONG_POLLS: String(opts.ssfMaxLongPolls) } : {}),
    ...(opts.auditMaxRecords !== undefined ? { STS_AUDIT_MAX_RECORDS: String(opts.auditMaxRecords) } : {}),
    ...(opts.probeIntervalMinutes !== undefined ? { STS_PROBE_INTERVAL_MINUTES: String(opts.probeIntervalMinutes) } : {}),
    ...(opts.trustProxy ? { STS_TRUST_PROXY: opts.trustProxy } : {}),
    ...(opts.registryMode ? { STS_REGISTRY_MODE: opts.registryMode } : {}),
    ...(opts.metricsPort ? { STS_METRICS_PORT: String(opts.metricsPort), HOST: '127.0.0.1' } : {}),
  });
  const log = pino({ level: 'silent' });
  const events = new RecordingEventSink();
  let stores: Stores;
  let raw: Redis | undefined;
  let rawCluster: Cluster | undefined;
  let state: StateSource = { kind: 'none', why: opts.shared ? 'shared stores that are not the memory twins' : 'a Redis URL that is neither a single node nor a cluster' };
  let client: RedisClient | undefined;
  let keys: RedisKeys | undefined;
  if (kind === 'redis') {
    const url = opts.redisUrl ?? testRedisUrl();
    client = connectRedis({ url, commandTimeoutMs: opts.commandTimeoutMs ?? 1_000 });
    client.on('error', () => {});
    await client.connect();
    keys = redisKeys(prefix);
    const real = new RedisSessionStore(client, keys);
    const store = opts.wrapStore ? opts.wrapStore(real, keys) : real;
    stores = {
      sessions: store, replay: store, audit: new RedisAuditLog(client, keys), usage: new RedisUsageStore(client, keys), ssf: new RedisSsfStore(client, keys),
      probes: new RedisProbeStore(client, keys), scimSeen: new RedisScimSeenStore(client, keys),
    };
    // A raw view of the keys: the one node, or every master of a cluster (tests use `redis` on a single Redis only).
    const parsed = parseRedisUrl(url);
    if (parsed.kind === 'cluster') {
      rawCluster = new Cluster(parsed.hosts, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } });
      rawCluster.on('error', () => {});
      await rawCluster.connect();
      const masters = rawCluster;
      state = { kind: 'redis', nodes: () => masters.nodes('master') };
    } else if (parsed.kind === 'single') {
      const single = (raw = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 }));
      raw.on('error', () => {});
      await raw.connect();
      state = { kind: 'redis', nodes: () => [single] };
    }
  } else if (opts.shared) {
    stores = opts.shared.stores;
    if (stores.sessions instanceof MemorySessionStore) state = { kind: 'memory', sessions: stores.sessions, registry: opts.shared.registryStore };
  } else {
    // The sweeper keeps the app's time: a test clock away from real time must not sweep live sessions.
    const store = new MemorySessionStore(opts.clock ? () => opts.clock!.nowMs() : undefined);
    stores = { sessions: store, replay: store, audit: new MemoryAuditLog(), usage: new MemoryUsageStore(), ssf: new MemorySsfStore(), probes: new MemoryProbeStore(), scimSeen: new MemoryScimSeenStore() };
    state = { kind: 'memory', sessions: store };
  }
  const faults = opts.faults;
  if (faults) {
    const sessions = faults.wrap('sessions', stores.sessions as SessionStore & ReplayStore);
    stores = {
      sessions, replay: sessions,
      ...(stores.audit ? { audit: faults.wrap('audit', stores.audit) } : {}),
      ...(stores.usage ? { usage: faults.wrap('usage', stores.usage) } : {}),
      ...(stores.ssf ? { ssf: faults.wrap('ssf', stores.ssf) } : {}),
      ...(stores.probes ? { probes: stores.probes } : {}),
      ...(stores.scimSeen ? { scimSeen: stores.scimSeen } : {}),
    };
  }
  const realRegistryStore = opts.shared?.registryStore ?? (client && keys ? new RedisRegistryStore(client, keys) : faults || opts.live ? new MemoryRegistryStore() : undefined);
  if (state.kind === 'memory' && realRegistryStore && opts.live) state = { ...state, registry: realRegistryStore };
  const wrappedRegistryStore = realRegistryStore && opts.wrapRegistryStore ? opts.wrapRegistryStore(realRegistryStore) : realRegistryStore;
  const registryStore = wrappedRegistryStore && faults ? faults.wrap('registry', wrappedRegistryStore) : wrappedRegistryStore;
  const registrySource = opts.live
    ? { registryDocument: await parseRegistryDocument(opts.registry ?? testRegistry()), ...(registryStore ? { registryStore } : {}) }
    : { registry: await parseRegistry(opts.registry ?? testRegistry()) };
  const deps = await buildDeps(config, log, {
    ...registrySource, stores, events, ...(client ? { redis: client } : {}), ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.pushResolve ? { pushResolve: opts.pushResolve } : {}),
  });
  const app = createApp(deps, log);
  return {
    app,
    deps,
    config,
    events,
    ...(raw ? { redis: raw } : {}),
    ...(keys ? { keys } : {}),
    prefix,
    state,
    async close() {
      await deps.close();
      // quit() when connected; a client still reconnecting (after a Redis restart) is just dropped.
      if (raw?.status === 'ready') await raw.quit();
      else raw?.disconnect(false);
      rawCluster?.disconnect(false);
    },
  };
}

export function basic(id: string, secret = SECRETS[id]!): string {
  // An id with no known secret (an unknown client) sends the text "undefined": a wrong secret, as it always did.
  return clientSecretBasic(id, String(secret));
}

export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  issued_token_type?: string;
}

/** client_credentials for `agent` at `target`; asserts success. */
export async function clientCredentials(sts: TestSts, agent: string, target: string, scope: string): Promise<TokenBody> {
  const res = await request(sts.app)
    .post('/token')
    .set('Authorization', basic(agent))
    .type('form')
    .send({ grant_type: 'client_credentials', resource: target, scope });
  if (res.status !== 200) throw new Error(`client_credentials for ${agent} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as TokenBody;
}

/** Token exchange by `agent` of `subjectToken`; returns the raw supertest response. */
export function exchange(sts: TestSts, agent: string, subjectToken: string, target: string, scope: string, extra: Record<string, string> = {}) {
  return request(sts.app)
    .post('/token')
    .set('Authorization', basic(agent))
    .type('form')
    .send({ grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: AT_TYPE, resource: target, scope, ...extra });
}

/** Introspects `token` as resource server `rs`; returns the raw supertest response. */
export function introspect(sts: TestSts, token: string, rs = API) {
  return request(sts.app).post('/introspect').set('Authorization', basic(rs)).type('form').send({ token });
}

export async function adminToken(sts: TestSts, admin = 'admin', scope = 'sessions:read sessions:kill'): Promise<string> {
  return (await clientCredentials(sts, admin, ADMIN_AUD, scope)).access_token;
}

export interface KillOptions {
  /** The admin token to kill with (default: a fresh one of `admin`). */
  admin?: string;
  /** Sent as X-Request-Id (the kill's id in its SETs and records). */
  requestId?: string;
}

/** DELETE /admin/sessions/:sid (the session and its subtree); fails unless it answers 200. */
export async function kill(sts: TestSts, sid: string, o: KillOptions = {}): Promise<request.Response> {
  const req = request(sts.app).delete(`/admin/sessions/${sid}`).set('Authorization', `Bearer ${o.admin ?? (await adminToken(sts))}`);
  const res = await (o.requestId ? req.set('X-Request-Id', o.requestId) : req);
  if (res.status !== 200) throw new Error(`kill of ${sid} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** A token-exchange form body: `subject` for `scope` at the API. */
export const exchangeForm = (subject: string, scope: string) => ({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: AT_TYPE, resource: API, scope });

/** An urlencoded body from pairs, in order, a name possibly repeated (what .send(object) cannot say). */
export const form = (pairs: [string, string][]) => new URLSearchParams(pairs).toString();

export function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
