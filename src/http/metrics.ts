import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventSink, StsEvent } from '../audit/events.js';
import { StoreUnavailableError } from '../errors.js';
import type { SessionStore } from '../store/index.js';
import type { RedisClient } from '../store/redis/connect.js';
import { pingWithin, READINESS_PING_TIMEOUT_MS, within } from './readiness.js';

/** The fixed set of endpoint labels: a raw path would let any caller mint new series. */
export const ENDPOINTS = ['token', 'introspect', 'revoke', 'metadata', 'jwks', 'authorize', 'healthz', 'readyz', 'admin', 'other'] as const;
export type EndpointName = (typeof ENDPOINTS)[number];

/** Request duration buckets: from a cached answer (sub-millisecond) to a slow Redis (seconds). */
export const REQUEST_DURATION_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Push delivery lag buckets: from a receiver on the same network to one retried for minutes. */
export const DELIVERY_LAG_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** A live-session count younger than this is reused: parallel scrapers cost the store one count. */
export const LIVE_SESSIONS_MAX_AGE_MS = 5_000;
/** A count slower than this makes the scrape report NaN instead of holding the scrape up. */
export const LIVE_SESSIONS_TIMEOUT_MS = 1_000;

const MS_PER_SECOND = 1_000;
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const statusClass = (status: number) => Math.min(Math.max(Math.floor(status / 100), 1), STATUS_CLASSES.length) - 1;

/** What the HTTP stacks report per request: its endpoint, status and start (performance.now()). */
export interface RequestMetrics {
  served(endpoint: EndpointName, status: number, startedAt: number): void;
  /** An error a request ended with: a store failure is counted apart. */
  failed(endpoint: EndpointName, err: unknown): void;
}

/** What SSF push delivery reports each delivery to (deps.ts' deliveryHooks). */
export interface DeliveryMetrics {
  /** A delivery acknowledged by its receiver `lagSeconds` after the event happened. */
  delivered(lagSeconds: number): void;
  /** A delivery attempt that failed (the receiver refused, timed out or was unreachable). */
  failed(): void;
}

/** Why sessions were revoked, by the kill event that says so. */
/**
 * Every kill reaches the trail as exactly one of session.revoked (its reason: revocation, admin,
 * entitlement), agent.sessions_revoked or subject.sessions_revoked; a disable or a delete is an
 * agent-wide kill, so the registry records that follow it (with their own `revoked`) are not counted again.
 */
const REVOKE_REASONS = {
  'agent.sessions_revoked': 'agent_kill',
  'subject.sessions_revoked': 'subject_kill',
} as const;

/** A grant type's label: its name, or a URN's last part (`…:grant-type:token-exchange` → `token_exchange`). */
export const grantLabel = (grantType: string) => grantType.slice(grantType.lastIndexOf(':') + 1).replaceAll('-', '_');
/** Any grant type the grant list did not name (none is issued today): one series, never one per value. */
const OTHER_GRANT = { grant: 'other' } as const;

type Labels = { endpoint: EndpointName; status: string };

/**
 * agent-sts's Prometheus metrics, in a Registry of its own (never prom-client's global one), so
 * two app instances in one process share nothing. Counters are fed by the event sink (`sink()`),
 * the HTTP stacks (`served`/`failed`) and introspection (`introspected`); the live-session count
 * and Redis availability are asked at scrape time only, each bounded by a timeout.
 */
export class StsMetrics implements RequestMetrics {
  readonly registry = new Registry();
  readonly #issued: Counter<'grant'>;
  readonly #denied: Counter<'endpoint' | 'error'>;
  readonly #revoked: Counter<'reason'>;
  readonly #usedAfterRevocation: Counter<'endpoint'>;
  readonly #storeUnavailable: Counter<'endpoint'>;
  readonly #duration: Histogram<'endpoint' | 'status'>;
  /** The hot path counts into plain numbers; the counter reads them at scrape time. */
  readonly #introspections = { active: 0, inactive: 0 };
  /** One labels object per endpoint and status class, built once, not per request. */
  readonly #labels: Record<string, Labels[]> = {};
  /** The issued counter's labels per grant type offered (countGrants), built once. */
  readonly #grantLabels = new Map<string, { grant: string }>();
  #live: { count: number; atMs: number } | undefined;
  #delivery: DeliveryMetrics | undefined;

  constructor(store: Pick<SessionStore, 'countLive'>, nowMs: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#issued = new Counter({ name: 'agent_sts_tokens_issued_total', help: 'Tokens issued, by grant', labelNames: ['grant'], registers });
    this.#denied = new Counter({ name: 'agent_sts_token_denials_total', help: 'Requests refused (token.denied events), by endpoint and OAuth error', labelNames: ['endpoint', 'error'], registers });
    this.#revoked = new Counter({ name: 'agent_sts_sessions_revoked_total', help: 'Sessions removed by kills, by reason', labelNames: ['reason'], registers });
    this.#usedAfterRevocation = new Counter({ name: 'agent_sts_tokens_used_after_revocation_total', help: 'Killed tokens presented again (token.used_after_revocation events)', labelNames: ['endpoint'], registers });
    this.#storeUnavailable = new Counter({ name: 'agent_sts_store_unavailable_total', help: 'Requests answered 503 because a store (Redis) command failed or timed out, by endpoint', labelNames: ['endpoint'], registers });
    this.#duration = new Histogram({
      name: 'agent_sts_http_request_duration_seconds', help: 'Time from a request reaching its stack to its response written, by endpoint and status class',
      labelNames: ['endpoint', 'status'], buckets: REQUEST_DURATION_BUCKETS_SECONDS, registers,
    });
    const introspections = this.#introspections;
    new Counter({
      name: 'agent_sts_introspections_total', help: 'Introspections answered, by result (active or inactive)', labelNames: ['result'], registers,
      collect() {
        this.reset();
        this.inc({ result: 'active' }, introspections.active);
        this.inc({ result: 'inactive' }, introspections.inactive);
      },
    });
    const sample = () => this.#liveSessions(store, nowMs);
    new Gauge({
      name: 'agent_sts_live_sessions', help: `Live sessions in the store, counted at scrape time (reused for ${LIVE_SESSIONS_MAX_AGE_MS / MS_PER_SECOND} s); NaN when the store did not answer`, registers,
      async collect() {
        this.set(await sample());
      },
    });
    for (const endpoint of ENDPOINTS) this.#labels[endpoint] = STATUS_CLASSES.map((status) => ({ endpoint, status }));
  }

  /** The grant types offered (the grant list, deps.ts): each gets its own label, its series at zero from the start. */
  countGrants(grantTypes: readonly string[]): void {
    for (const type of grantTypes) {
      const labels = { grant: grantLabel(type) };
      this.#grantLabels.set(type, labels);
      this.#issued.inc(labels, 0);
    }
  }

  readonly introspected = (active: boolean): void => {
    if (active) this.#introspections.active++;
    else this.#introspections.inactive++;
  };

  served(endpoint: EndpointName, status: number, startedAt: number): void {
    const labels = this.#labels[endpoint]![statusClass(status)]!;
    this.#duration.observe(labels, (performance.now() - startedAt) / MS_PER_SECOND);
  }

  failed(endpoint: EndpointName, err: unknown): void {
    if (err instanceof StoreUnavailableError) this.#storeUnavailable.inc({ endpoint });
  }

  /** An EventSink that counts: `record` resolves at once and never fails a request. */
  sink(): EventSink {
    const count = (e: StsEvent) => {
      try {
        this.#count(e);
      } catch {
        // a metric is never worth a refused request; the audit trail still has the event
      }
    };
    return { record: async (e) => count(e), emit: count };
  }

  #count(e: StsEvent): void {
    switch (e.type) {
      case 'token.issued':
        this.#issued.inc(this.#grantLabels.get(e.grant) ?? OTHER_GRANT);
        return;
      case 'token.denied':
        this.#denied.inc({ endpoint: e.endpoint, error: e.error });
        return;
      case 'token.used_after_revocation':
        this.#usedAfterRevocation.inc({ endpoint: e.endpoint });
        return;
      case 'session.revoked':
        this.#revoked.inc({ reason: e.reason }, e.revoked);
        return;
      case 'agent.sessions_revoked':
      case 'subject.sessions_revoked':
        if (e.revoked > 0) this.#revoked.inc({ reason: REVOKE_REASONS[e.type] }, e.revoked);
    }
  }

  async #liveSessions(store: Pick<SessionStore, 'countLive'>, nowMs: () => number): Promise<number> {
    const fresh = this.#live && performance.now() - this.#live.atMs < LIVE_SESSIONS_MAX_AGE_MS;
    if (fresh) return this.#live!.count;
    const counted = await within(store.countLive(nowMs()), LIVE_SESSIONS_TIMEOUT_MS);
    if (counted === undefined) return NaN;
    this.#live = { count: counted, atMs: performance.now() };
    return counted;
  }

  /**
   * Redis availability: `agent_sts_redis_up` is 1 when the store answers a ping at scrape time
   * (a connected but frozen Redis is down too); the client's connection errors and reconnects are counted.
   */
  watchRedis(client: RedisClient, store: Pick<SessionStore, 'ping'>): void {
    const registers = [this.registry];
    const errors = new Counter({ name: 'agent_sts_redis_connection_errors_total', help: 'Errors the Redis client reported (connection refused, reset, timed out)', registers });
    const reconnects = new Counter({ name: 'agent_sts_redis_reconnects_total', help: 'Times the Redis client lost its connection and began reconnecting', registers });
    client.on('error', () => errors.inc());
    client.on('reconnecting', () => reconnects.inc());
    new Gauge({
      name: 'agent_sts_redis_up', help: `1 when Redis answered a ping within ${READINESS_PING_TIMEOUT_MS} ms at scrape time, else 0`, registers,
      async collect() {
        this.set((await pingWithin(store, READINESS_PING_TIMEOUT_MS)) ? 1 : 0);
      },
    });
  }

  /** For revocation push: registered on first use, so nothing is exposed before deliveries exist. */
  delivery(): DeliveryMetrics {
    if (this.#delivery) return this.#delivery;
    const registers = [this.registry];
    const lag = new Histogram({ name: 'agent_sts_event_delivery_lag_seconds', help: 'Time from an event to its acknowledged push delivery', buckets: DELIVERY_LAG_BUCKETS_SECONDS, registers });
    const failures = new Counter({ name: 'agent_sts_event_delivery_failures_total', help: 'Push delivery attempts that failed', registers });
    this.#delivery = { delivered: (s) => lag.observe(s), failed: () => failures.inc() };
    return this.#delivery;
  }
}

type Next = (err?: unknown) => void;

/** For express (everything but the OAuth endpoints): times each request until its response is sent. */
export function timeRequests(metrics: RequestMetrics, endpointOf: (path: string) => EndpointName) {
  return function timeRequests(req: IncomingMessage, res: ServerResponse, next: Next): void {
    const startedAt = performance.now();
    const endpoint = endpointOf(pathOf(req));
    res.once('finish', () => metrics.served(endpoint, res.statusCode, startedAt));
    next();
  };
}

/** For express, before its error renderer: notes the error, then passes it on. */
export function noteFailures(metrics: RequestMetrics, endpointOf: (path: string) => EndpointName) {
  return function noteFailures(err: unknown, req: IncomingMessage, _res: ServerResponse, next: Next): void {
    metrics.failed(endpointOf(pathOf(req)), err);
    next(err);
  };
}

/** The path as it arrived: a mounted express router rewrites `req.url`, never `originalUrl`. */
const pathOf = (req: IncomingMessage & { originalUrl?: string }) => (req.originalUrl ?? req.url ?? '/').split('?')[0]!;
