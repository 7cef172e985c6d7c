import type { Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config/index.js';
import type { DurableEvent } from '../../src/audit/events.js';
import { StsMetrics } from '../../src/http/metrics.js';
import { startMetricsServer } from '../../src/http/metrics-server.js';
import { readiness } from '../../src/http/readiness.js';
import { eventually } from '../helpers/wait.js';
import { freePort, startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { API, basic, clientCredentials, exchange, introspect, startSts, type TestSts } from '../helpers/sts.js';

/**
 * GET /metrics on its own port (STS_METRICS_PORT) and GET /readyz, against real Redis: every
 * counter is asserted by its exact value after the actions that feed it.
 */

const log = pino({ level: 'silent' });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, one sample per line (comments skipped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const same = (a: Record<string, string>) => Object.keys(a).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => a[k] === v);
  const found = samples.filter((s) => s.name === name && same(s.labels));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}

async function scrape(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

async function startWithMetrics(opts: { redisUrl?: string } = {}): Promise<{ sts: TestSts; server: Server; port: number }> {
  const port = await freePort();
  const sts = await startSts({ metricsPort: port, ...opts });
  const server = await startMetricsServer(sts.config, sts.deps.metrics?.registry, log);
  if (!server) throw new Error('the metrics listener did not start');
  return { sts, server, port };
}

const revoke = (sts: TestSts, agent: string, token: string) => request(sts.app).post('/revoke').set('Authorization', basic(agent)).type('form').send({ token });

const denied = (sts: TestSts) => request(sts.app).post('/token').set('Authorization', basic('billing-agent', 'wrong-secret-0123456789abcdefghijkl'))
  .type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });

describe('GET /metrics on STS_METRICS_PORT', () => {
  let sts: TestSts;
  let server: Server;
  let port: number;

  // Each test gets its own instance, so its own registry: every counter starts at zero and counts only what the test did.
  beforeEach(async () => {
    ({ sts, server, port } = await startWithMetrics());
  });
  afterEach(async () => {
    server.close();
    await sts.close();
  });

  it('counts issued tokens by grant, denials by endpoint and error', async () => {
    const a = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await exchange(sts, 'sub-agent', a.access_token, API, 'invoices:read')).status).toBe(200);
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await denied(sts)).status).toBe(401);
    const samples = await scrape(port);
    expect(valueOf(samples, 'agent_sts_tokens_issued_total', { grant: 'client_credentials' })).toBe(2);
    expect(valueOf(samples, 'agent_sts_tokens_issued_total', { grant: 'token_exchange' })).toBe(1);
    expect(valueOf(samples, 'agent_sts_token_denials_total', { endpoint: 'token', error: 'invalid_client' })).toBe(1);
  });

  it('every grant the grant list offers has its own issued label, at zero before any is issued; none falls in other', async () => {
    const before = await scrape(port);
    expect(sts.deps.grants.types).toEqual(['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);
    for (const grant of ['client_credentials', 'token_exchange', 'jwt_bearer']) expect(valueOf(before, 'agent_sts_tokens_issued_total', { grant })).toBe(0);
    const a = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await exchange(sts, 'sub-agent', a.access_token, API, 'invoices:read')).status).toBe(200);
    const after = await scrape(port);
    expect(after.filter((x) => x.name === 'agent_sts_tokens_issued_total').map((x) => [x.labels.grant, x.value]).sort())
      .toEqual([['client_credentials', 1], ['jwt_bearer', 0], ['token_exchange', 1]]);
  });

  it('counts introspections by result, revoked sessions by reason, killed tokens presented again', async () => {
    const a = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await exchange(sts, 'sub-agent', a.access_token, API, 'invoices:read')).status).toBe(200);
    const b = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await revoke(sts, 'billing-agent', a.access_token)).status).toBe(200);
    expect((await introspect(sts, b.access_token)).body).toMatchObject({ active: true });
    // killed: inactive, and reported as used after revocation
    expect((await introspect(sts, a.access_token)).body).toEqual({ active: false });
    expect((await introspect(sts, 'not-a-token')).body).toEqual({ active: false });
    const samples = await scrape(port);
    expect(valueOf(samples, 'agent_sts_introspections_total', { result: 'active' })).toBe(1);
    expect(valueOf(samples, 'agent_sts_introspections_total', { result: 'inactive' })).toBe(2);
    // the root and the child it was exchanged for
    expect(valueOf(samples, 'agent_sts_sessions_revoked_total', { reason: 'revocation' })).toBe(2);
    expect(valueOf(samples, 'agent_sts_tokens_used_after_revocation_total', { endpoint: 'introspect' })).toBe(1);
  });

  it('samples live sessions from the store at scrape time, and Redis as up', async () => {
    // One scrape: the count is reused for LIVE_SESSIONS_MAX_AGE_MS of real time.
    const a = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await revoke(sts, 'billing-agent', a.access_token)).status).toBe(200);
    const samples = await scrape(port);
    expect(valueOf(samples, 'agent_sts_live_sessions')).toBe(1);
    expect(valueOf(samples, 'agent_sts_redis_up')).toBe(1);
    expect(valueOf(samples, 'agent_sts_redis_connection_errors_total')).toBe(0);
    expect(valueOf(samples, 'agent_sts_store_unavailable_total', { endpoint: 'introspect' })).toBeUndefined();
  });

  it('times every request by a fixed endpoint name and status class', async () => {
    const a = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await denied(sts)).status).toBe(401);
    expect((await revoke(sts, 'billing-agent', a.access_token)).status).toBe(200);
    expect((await introspect(sts, a.access_token)).status).toBe(200);
    expect((await request(sts.app).get('/jwks')).status).toBe(200);
    expect((await request(sts.app).get('/no-such-path')).status).toBe(404);
    expect((await request(sts.app).get('/admin/sessions')).status).toBe(401);
    const samples = await scrape(port);
    const count = (endpoint: string, status: string) => valueOf(samples, 'agent_sts_http_request_duration_seconds_count', { endpoint, status });
    expect(count('token', '2xx')).toBe(2);
    expect(count('token', '4xx')).toBe(1);
    expect(count('revoke', '2xx')).toBe(1);
    expect(count('introspect', '2xx')).toBe(1);
    expect(count('jwks', '2xx')).toBe(1);
    expect(count('other', '4xx')).toBe(1);
    expect(count('admin', '4xx')).toBe(1);
    expect(valueOf(samples, 'agent_sts_http_request_duration_seconds_bucket', { endpoint: 'token', status: '2xx', le: '+Inf' })).toBe(2);
    expect(valueOf(samples, 'agent_sts_http_request_duration_seconds_sum', { endpoint: 'token', status: '2xx' })).toBeGreaterThan(0);
    // raw paths never become labels
    expect(samples.filter((s) => s.labels.endpoint?.startsWith('/'))).toEqual([]);
  });

  it('includes the process and Node.js default metrics of this registry', async () => {
    const samples = await scrape(port);
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name.startsWith('nodejs_'))).toBe(true);
  });

  it('serves nothing else on its port, and nothing of it on the main port', async () => {
    for (const p of ['/', '/token', '/metrics/x']) expect((await fetch(`http://127.0.0.1:${port}${p}`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(404);
    expect((await request(sts.app).get('/metrics')).status).toBe(404);
  });

  it('exposes event delivery metrics only once push delivery asks for them', async () => {
    expect((await scrape(port)).some((s) => s.name.startsWith('agent_sts_event_delivery'))).toBe(false);
    const delivery = sts.deps.metrics!.delivery();
    delivery.delivered(0.2);
    delivery.failed();
    const after = await scrape(port);
    expect(valueOf(after, 'agent_sts_event_delivery_lag_seconds_count')).toBe(1);
    expect(valueOf(after, 'agent_sts_event_delivery_lag_seconds_bucket', { le: '0.25' })).toBe(1);
    expect(valueOf(after, 'agent_sts_event_delivery_lag_seconds_bucket', { le: '0.1' })).toBe(0);
    expect(valueOf(after, 'agent_sts_event_delivery_failures_total')).toBe(1);
  });
});

describe('STS_METRICS_PORT unset', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts();
  });
  afterAll(async () => {
    await sts.close();
  });

  it('collects nothing, starts no listener, and the main port has no /metrics', async () => {
    expect(sts.config.metricsPort).toBeUndefined();
    expect(sts.deps.metrics).toBeUndefined();
    expect(await startMetricsServer(sts.config, undefined, log)).toBeUndefined();
    const res = await request(sts.app).get('/metrics');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
  });
});

describe('STS_METRICS_PORT in the config', () => {
  it.each([
    ['70000', 'STS_METRICS_PORT: must be a port from 1 to 65535'],
    ['0', 'STS_METRICS_PORT: must be a port from 1 to 65535'],
    ['nine', 'STS_METRICS_PORT: must be a port number'],
    ['8080', 'STS_METRICS_PORT: must differ from PORT'],
  ])('refuses %j with a clear error', (value, message) => {
    expect(() => loadConfig({ NODE_ENV: 'test', PORT: '8080', STS_METRICS_PORT: value })).toThrow(message);
  });

  it('refuses it with more than one worker (each would count apart behind one port)', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', REDIS_URL: 'redis://127.0.0.1:6379', STS_WORKERS: '2', STS_METRICS_PORT: '9464' }))
      .toThrow('STS_METRICS_PORT: needs STS_WORKERS=1');
  });

  it('is off by default and a number when set', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).metricsPort).toBeUndefined();
    expect(loadConfig({ NODE_ENV: 'test', STS_METRICS_PORT: '9464' }).metricsPort).toBe(9464);
  });
});

describe('GET /readyz and Redis availability on a Redis that stops and comes back', () => {
  let redis: RedisProcess;
  let sts: TestSts;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    redis = await startRedis();
  });
  // One Redis process, but an instance per test: its counters start at zero and count only what the test did.
  beforeEach(async () => {
    ({ sts, server, port } = await startWithMetrics({ redisUrl: redis.url }));
  });
  afterEach(async () => {
    redis.resume();
    server.close();
    await sts.close();
  });
  afterAll(async () => {
    await redis.stop();
  });

  const readyz = () => request(sts.app).get('/readyz');
  /** Redis reconnects in the background (at most 2 s apart): ask until it is back, a bounded number of times. */
  const untilReady = () => eventually(readyz, (res) => res.status === 200, { withinMs: 10_000, everyMs: 200 });

  it('answers 200 ready while Redis answers; /healthz stays 200', async () => {
    const res = await readyz();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect((await request(sts.app).get('/healthz')).status).toBe(200);
  });

  it('answers 503 while Redis is frozen (SIGSTOP); /metrics says Redis is down and counts the refused request', async () => {
    const token = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    redis.pause();
    const res = await readyz();
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'not_ready', reason: 'store_unavailable' });
    expect((await introspect(sts, token)).status).toBe(503);
    const samples = await scrape(port);
    expect(valueOf(samples, 'agent_sts_redis_up')).toBe(0);
    expect(valueOf(samples, 'agent_sts_live_sessions')).toBeNaN();
    expect(valueOf(samples, 'agent_sts_store_unavailable_total', { endpoint: 'introspect' })).toBe(1);
    expect(valueOf(samples, 'agent_sts_http_request_duration_seconds_count', { endpoint: 'introspect', status: '5xx' })).toBe(1);
    expect(valueOf(samples, 'agent_sts_http_request_duration_seconds_count', { endpoint: 'readyz', status: '5xx' })).toBe(1);
    redis.resume();
    expect((await untilReady()).body).toEqual({ status: 'ready' });
  });

  it('answers 503 while Redis is dead (SIGKILL), 200 once it is restarted; refused connections and the reconnect are counted', async () => {
    const before = await scrape(port);
    expect(valueOf(before, 'agent_sts_redis_reconnects_total')).toBe(0);
    expect(valueOf(before, 'agent_sts_redis_connection_errors_total')).toBe(0);
    await redis.kill();
    const res = await readyz();
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'not_ready', reason: 'store_unavailable' });
    // the client's first reconnect attempt is refused within a few hundred ms: ask until it was counted (bounded)
    const down = await eventually(() => scrape(port), (d) => Boolean(valueOf(d, 'agent_sts_redis_connection_errors_total')), { withinMs: 5_000, everyMs: 100 });
    expect(valueOf(down, 'agent_sts_redis_connection_errors_total')).toBeGreaterThan(0);
    expect(valueOf(down, 'agent_sts_redis_up')).toBe(0);
    await redis.restart();
    expect((await untilReady()).body).toEqual({ status: 'ready' });
    const back = await scrape(port);
    expect(valueOf(back, 'agent_sts_redis_up')).toBe(1);
    expect(valueOf(back, 'agent_sts_redis_reconnects_total')).toBeGreaterThanOrEqual(1);
  });
});

describe('readiness', () => {
  it('is not ready until the registry has loaded, whatever the store says', async () => {
    const store = { ping: async () => {} };
    expect(await readiness(store, () => false)).toEqual({ status: 'not_ready', reason: 'registry_not_loaded' });
    expect(await readiness(store, () => true)).toEqual({ status: 'ready' });
  });
});

describe('agent_sts_sessions_revoked_total', () => {
  it('counts each killed session once: a disable (an agent-wide kill, then the registry record) and a narrowing (a tree kill, then agent.updated)', async () => {
    const metrics = new StsMetrics({ countLive: async () => 0 }, () => 0);
    const sink = metrics.sink();
    const env = { time: 't', requestId: 'r', actor: 'admin', adminSid: 'a' };
    const sessions = [{ sid: 's1', aud: API, agent: 'x', sub: 'x', exp: 1 }, { sid: 's2', aud: API, agent: 'x', sub: 'x', exp: 1 }];
    const disable: DurableEvent[] = [
      { ...env, type: 'revocation.requested', of: 'agent', agent: 'x', by: 'admin' },
      { ...env, type: 'agent.sessions_revoked', agent: 'x', revoked: 2, sessions, by: 'admin' },
      { ...env, type: 'agent.disabled', agent: 'x', by: 'admin', revoked: 2 },
    ];
    const narrowing: DurableEvent[] = [
      { ...env, type: 'revocation.requested', of: 'session', sid: 's3', by: 'admin', reason: 'entitlement' },
      { ...env, type: 'session.revoked', sid: 's3', revoked: 1, sessions: [{ ...sessions[0]!, sid: 's3' }], by: 'admin', reason: 'entitlement' },
      { ...env, type: 'agent.updated', agent: 'x', by: 'admin', fields: ['audiences'], revoked: 1 },
    ];
    for (const e of [...disable, ...narrowing]) await sink.record(e);
    const samples = parse(await metrics.registry.metrics());
    expect(valueOf(samples, 'agent_sts_sessions_revoked_total', { reason: 'agent_kill' })).toBe(2);
    expect(valueOf(samples, 'agent_sts_sessions_revoked_total', { reason: 'entitlement' })).toBe(1);
    expect(samples.filter((x) => x.name === 'agent_sts_sessions_revoked_total').reduce((t, x) => t + x.value, 0)).toBe(3);
  });
});
