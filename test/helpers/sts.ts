import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RequestListener } from 'node:http';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { RecordingEventSink } from '../../src/audit/events.js';
import { parseRegistry, parseRegistryDocument, type RegistryDocument } from '../../src/clients/registry-file.js';
import type { RegistryStore } from '../../src/store/registry.js';
import { hashSecret } from '../../src/clients/secret.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { buildDeps, type Deps } from '../../src/deps.js';
import type { Resolve } from '../../src/push/address-policy.js';
import { addKey } from '../../src/keys/keystore.js';
import { clientSecretBasic } from '../../src/protocol/client/client-auth.js';
import type { Clock } from '../../src/sessions/clock.js';
import { MemoryRegistryStore } from '../../src/store/memory/registry-store.js';
import type { Faults } from './faults.js';
import type { ReplayStore, SessionStore, Stores } from '../../src/store/index.js';
import { AGENT_KILL_MARKER_SUFFIX, KILLED_SET_SUFFIX, OUTBOX_SUFFIX, redisKeys, TREE_KEY, type RedisKeys } from '../../src/store/keys.js';
import { MemoryAuditLog } from '../../src/store/memory/audit-log.js';
import { MemorySessionStore } from '../../src/store/memory/session-store.js';
import { RedisAuditLog } from '../../src/store/redis/audit-log.js';
import { RedisUsageStore } from '../../src/store/redis/usage-store.js';
import { RedisSsfStore } from '../../src/store/redis/ssf-store.js';
import { MemorySsfStore } from '../../src/store/memory/ssf-store.js';
import { MemoryUsageStore } from '../../src/store/memory/usage-store.js';
import { connectRedis, type RedisClient } from '../../src/store/redis/connect.js';
import { RedisRegistryStore } from '../../src/store/redis/registry-store.js';
import { RedisSessionStore } from '../../src/store/redis/session-store.js';

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
  /** Present for the redis store: a raw client and the key layout, to assert the state in Redis. */
  redis?: Redis;
  keys?: RedisKeys;
  prefix: string;
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
    ...(opts.trustProxy ? { STS_TRUST_PROXY: opts.trustProxy } : {}),
    ...(opts.registryMode ? { STS_REGISTRY_MODE: opts.registryMode } : {}),
    ...(opts.metricsPort ? { STS_METRICS_PORT: String(opts.metricsPort), HOST: '127.0.0.1' } : {}),
  });
  const log = pino({ level: 'silent' });
  const events = new RecordingEventSink();
  let stores: Stores;
  let raw: Redis | undefined;
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
    stores = { sessions: store, replay: store, audit: new RedisAuditLog(client, keys), usage: new RedisUsageStore(client, keys), ssf: new RedisSsfStore(client, keys) };
    // A raw view of the keys needs one node: on a cluster URL, tests assert through the API only.
    if (!url.startsWith('redis+cluster')) {
      raw = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      raw.on('error', () => {});
      await raw.connect();
    }
  } else if (opts.shared) {
    stores = opts.shared.stores;
  } else {
    const store = new MemorySessionStore();
    stores = { sessions: store, replay: store, audit: new MemoryAuditLog(), usage: new MemoryUsageStore(), ssf: new MemorySsfStore() };
  }
  const faults = opts.faults;
  if (faults) {
    const sessions = faults.wrap('sessions', stores.sessions as SessionStore & ReplayStore);
    stores = {
      sessions, replay: sessions,
      ...(stores.audit ? { audit: faults.wrap('audit', stores.audit) } : {}),
      ...(stores.usage ? { usage: faults.wrap('usage', stores.usage) } : {}),
      ...(stores.ssf ? { ssf: faults.wrap('ssf', stores.ssf) } : {}),
    };
  }
  const realRegistryStore = opts.shared?.registryStore ?? (client && keys ? new RedisRegistryStore(client, keys) : faults ? new MemoryRegistryStore() : undefined);
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
    async close() {
      await deps.close();
      // quit() when connected; a client still reconnecting (after a Redis restart) is just dropped.
      if (raw?.status === 'ready') await raw.quit();
      else raw?.disconnect(false);
    },
  };
}

const isTombstone = (k: string) => k.includes(`}:${TREE_KEY.revoked}`);
/** What only a kill writes: tombstones, agent markers, a tree's killed set and its kill outbox, and the set of unannounced kills. */
const isKillMark = (k: string) => isTombstone(k) || k.endsWith(`}${AGENT_KILL_MARKER_SUFFIX}`) || k.endsWith(`}:${KILLED_SET_SUFFIX}`)
  || k.endsWith(`}:${OUTBOX_SUFFIX}`) || k.endsWith(redisKeys('').unannounced());
/** The audit trail's keys: every decision, refusals included, is recorded there (see audit tests). */
const isAuditKey = (k: string) => k.includes('{audit}:');
/**
 * Usage counts: counted in process and flushed on a timer (every STS_USAGE_FLUSH_SECONDS), so a
 * flush of earlier requests' counts can land at any moment; their figures are asserted by the
 * access-review and usage tests.
 */
const isUsageKey = (k: string) => k.includes('{usage:');
/** The SSF streams: a kill's SETs for the resource servers (see test/integration/ssf/). */
const isSsfKey = (k: string) => k.includes('{ssf:');

/**
 * Every key this test's app wrote, for asserting "nothing changed" — except kill tombstones and
 * agent kill markers, which only a kill writes (see `tombstones`), the audit trail, which
 * records refusals too, the usage counts, flushed on their own timer, and the SSF streams, where a
 * kill leaves its SETs for resource servers.
 */
export async function redisState(sts: TestSts): Promise<string[]> {
  if (!sts.redis) return [];
  return (await sts.redis.keys(`${sts.prefix}*`)).filter((k) => !isKillMark(k) && !isAuditKey(k) && !isUsageKey(k) && !isSsfKey(k)).sort();
}

/**
 * Every key of this app's prefix (kill marks aside) with its content and absolute expiry
 * (PEXPIRETIME): equal snapshots mean nothing was written, TTLs included. Empty without Redis.
 */
export async function snapshot(sts: TestSts): Promise<Record<string, { value: unknown; expiresAt: number }>> {
  const r = sts.redis;
  const out: Record<string, { value: unknown; expiresAt: number }> = {};
  if (!r) return out;
  for (const key of await redisState(sts)) {
    const type = await r.type(key);
    let value: unknown = `<${type}>`;
    if (type === 'hash') value = await r.hgetall(key);
    else if (type === 'set') value = (await r.smembers(key)).sort();
    else if (type === 'zset') value = await r.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'string') value = await r.get(key);
    out[key] = { value, expiresAt: (await r.call('PEXPIRETIME', key)) as number };
  }
  return out;
}

/** The tombstones kills left: one per killed subtree root, until that session would have expired. */
export async function tombstones(sts: TestSts): Promise<string[]> {
  if (!sts.redis) return [];
  return (await sts.redis.keys(`${sts.prefix}*`)).filter(isTombstone).sort();
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

export function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
