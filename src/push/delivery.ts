import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import type { DurableEvent, EventSink, RegistryEvent } from '../audit/events.js';
import { SET_MEDIA_TYPE } from '../protocol/ssf.js';
import { NO_PUSH_FAILURE, PUSH_STREAM, type PushState, type PushTarget, type SsfEntry, type SsfStore } from '../store/ssf.js';

/** Every instance looks for pushes to make this often (a kill on this instance starts one at once). */
const PUSH_TICK_MS = 250;
/** The right to deliver an audience's pushes, renewed on every batch and given up after the turn; if an instance dies holding it, another takes over after this. */
const LEASE_MS = 10_000;
/** SETs read per batch, and batches per turn (then the next audience gets its turn). */
const PUSH_BATCH = 50;
const MAX_BATCHES_PER_TURN = 20;
/** The longest wait between retries to a failing receiver. */
const MAX_RETRY_MS = 300_000;
/** A receiver failing this many times in a row is reported (audit trail, hook). */
const REPORT_AFTER_ATTEMPTS = 5;
/** A receiver's answer is read up to this size (its error JSON). */
const MAX_ANSWER_BYTES = 4 * 1024;

/** What delivery tells a metrics collector: how late SETs arrive, and which receivers fail. */
export interface DeliveryHooks {
  delivered?(aud: string, lagMs: number): void;
  failed?(aud: string, attempts: number, error: string): void;
}

export interface DeliveryOptions {
  store: SsfStore;
  retentionMs: number;
  nowMs: () => number;
  /** A push that has not answered within this fails (and is retried). */
  timeoutMs: number;
  /** The first retry's wait; it doubles on every failure, up to 5 minutes. */
  retryMs: number;
  events: EventSink;
  log: Logger;
  hooks?: DeliveryHooks;
}

type Outcome = { ok: true; status: number } | { ok: false; error: string };

/** One RFC 8935 push: POST the SET as application/secevent+jwt; 202 is delivered, 400 is refused (never resent), anything else fails. */
function send(target: PushTarget, set: string, timeoutMs: number): Promise<Outcome> {
  const u = new URL(target.endpoint);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    // node:http follows no redirect: a 3xx is a failure like any other non-202.
    const req = send(u, {
      method: 'POST', timeout: timeoutMs,
      headers: { 'content-type': SET_MEDIA_TYPE, accept: 'application/json', 'content-length': Buffer.byteLength(set), ...(target.authorization ? { authorization: target.authorization } : {}) },
    }, (res) => {
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) res.destroy();
      });
      res.on('error', () => {});
      res.on('close', () => {
        const status = res.statusCode ?? 0;
        resolve(status === 202 || status === 200 || status === 400 ? { ok: true, status } : { ok: false, error: `HTTP ${status}` });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
    req.end(set);
  });
}

const entryTimeMs = (e: SsfEntry) => Number(e.id.split('-')[0]);

/**
 * Pushes each resource server's SETs to its registered endpoint, in order, one instance per
 * audience at a time (a lease in the store); the position and the failure state live in the store,
 * so any instance resumes where another stopped. A receiver that keeps failing is retried with
 * doubling waits and reported once per run of failures, never dropped: its SETs wait in the stream.
 */
export class PushDelivery {
  readonly #holder = randomBytes(9).toString('base64url');
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;

  constructor(private readonly o: DeliveryOptions) {}

  start(): void {
    this.#timer ??= setInterval(() => this.kick(), PUSH_TICK_MS);
    this.#timer.unref();
  }

  /** Stops delivering from this instance (a turn under way finishes). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Delivers now (after a kill on this instance); a turn already running takes another one after. */
  kick(): void {
    if (!this.#timer) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#turn().finally(() => {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #turn(): Promise<void> {
    try {
      for (const aud of await this.o.store.pushAudiences()) await this.#deliver(aud);
    } catch (err) {
      this.o.log.warn({ err }, 'SSF push: the store did not answer; retrying');
    }
  }

  async #deliver(aud: string): Promise<void> {
    const { store, nowMs } = this.o;
    const found = await store.push(aud);
    if (!found || found.state.nextAtMs > nowMs()) return;
    if (!(await store.lease(aud, this.#holder, LEASE_MS, nowMs()))) return;
    let state = found.state;
    let ack: string[] = [];
    try {
      for (let batch = 0; batch < MAX_BATCHES_PER_TURN; batch++) {
        const polled = await store.poll(aud, { stream: PUSH_STREAM, ack, maxEvents: PUSH_BATCH, nowMs: nowMs(), retentionMs: this.o.retentionMs });
        ack = [];
        for (const e of polled.sets) {
          const outcome = await send(found.target, e.set, this.o.timeoutMs);
          if (!outcome.ok) {
            state = await this.#failed(aud, state, outcome.error);
            return;
          }
          if (outcome.status === 400) this.o.log.warn({ aud, jti: e.jti }, 'SSF push: the receiver refused a SET (400); not resent');
          ack.push(e.jti);
          this.o.hooks?.delivered?.(aud, nowMs() - entryTimeMs(e));
        }
        if (state.attempts > 0) state = await this.#recovered(aud, state);
        if (!polled.moreAvailable) return;
        await store.lease(aud, this.#holder, LEASE_MS, nowMs());
      }
    } finally {
      if (ack.length) await store.poll(aud, { stream: PUSH_STREAM, ack, maxEvents: 0, nowMs: nowMs(), retentionMs: this.o.retentionMs });
      await store.release(aud, this.#holder);
    }
  }

  async #failed(aud: string, before: PushState, error: string): Promise<PushState> {
    const now = this.o.nowMs();
    const attempts = before.attempts + 1;
    const state: PushState = {
      attempts, lastError: error, failingSinceMs: before.failingSinceMs || now, reported: before.reported,
      nextAtMs: now + Math.min(this.o.retryMs * 2 ** (attempts - 1), MAX_RETRY_MS),
    };
    this.o.hooks?.failed?.(aud, attempts, error);
    const report = attempts >= REPORT_AFTER_ATTEMPTS && !state.reported;
    if (report) state.reported = true;
    await this.o.store.savePushState(aud, state);
    if (report) await this.#report({ type: 'resource_server.push_failing', resourceServer: aud, attempts, error, since: new Date(state.failingSinceMs).toISOString() }, now);
    return state;
  }

  async #recovered(aud: string, before: PushState): Promise<PushState> {
    if (before.reported) {
      await this.#report({ type: 'resource_server.push_recovered', resourceServer: aud, attempts: before.attempts, since: new Date(before.failingSinceMs).toISOString() }, this.o.nowMs());
    }
    await this.o.store.savePushState(aud, NO_PUSH_FAILURE);
    return { ...NO_PUSH_FAILURE };
  }

  /** Durable, like every registry change: a failing receiver is in the audit trail. Best effort here: a failure is logged. */
  async #report(e: PushEvent, nowMs: number): Promise<void> {
    const event: DurableEvent = { ...e, time: new Date(nowMs).toISOString(), requestId: `ssf-push-${randomBytes(6).toString('base64url')}`, actor: null };
    await this.o.events.record(event).catch((err: unknown) => this.o.log.error({ err, event }, 'SSF push: could not record the receiver\'s state'));
  }
}

type PushEvent = Extract<RegistryEvent, { type: 'resource_server.push_failing' | 'resource_server.push_recovered' }>;
