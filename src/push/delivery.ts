import { randomBytes } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { SET_MEDIA_TYPE } from 'agent-sts-gate/protocol';
import type { DurableEvent, EventSink, RegistryEvent } from '../audit/events.js';
import { RefusedAddressError, type PushAddressPolicy } from './address-policy.js';
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
  failed?(aud: string, attempts: number, error: PushError): void;
}

export interface DeliveryOptions {
  store: SsfStore;
  retentionMs: number;
  nowMs: () => number;
  /** A push that has not answered within this fails (and is retried). */
  timeoutMs: number;
  /** Where delivery may connect (production); absent: anywhere (development and test). */
  policy?: PushAddressPolicy;
  /** The first retry's wait; it doubles on every failure, up to 5 minutes. */
  retryMs: number;
  events: EventSink;
  log: Logger;
  hooks?: DeliveryHooks;
}

/**
 * What a failed push is reported as (lastError, the admin API, the audit trail, the hooks): coarse
 * on purpose, so registering endpoints cannot map a network: a closed port, an open port that
 * speaks no TLS, a TLS server refusing the handshake and a name that does not resolve are all
 * `unreachable`; `tls` is a peer whose certificate is refused. The raw error is logged only.
 */
export type PushError = 'refused_address' | 'unreachable' | 'tls' | 'timeout' | `http ${number}xx`;

type Outcome = { ok: true; status: number } | { ok: false; error: PushError; detail: string };

interface SendOptions {
  timeoutMs: number;
  policy: PushAddressPolicy | undefined;
  agents: { http: HttpAgent; https: HttpsAgent };
}

function failure(err: NodeJS.ErrnoException, socket: Socket | null): Outcome {
  const detail = `${err.code ?? ''} ${err.message}`.trim();
  if (err instanceof RefusedAddressError) return { ok: false, error: 'refused_address', detail };
  if (socket instanceof TLSSocket && socket.authorizationError) return { ok: false, error: 'tls', detail };
  return { ok: false, error: err.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable', detail };
}

/** One RFC 8935 push: POST the SET as application/secevent+jwt; 202 is delivered, 400 is refused (never resent), anything else fails. */
function send(target: PushTarget, set: string, o: SendOptions): Promise<Outcome> {
  const u = new URL(target.endpoint);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  // node calls `lookup` only for names: an address is judged here, before anything connects.
  if (o.policy && isIP(host) && !o.policy.permits(host)) return Promise.resolve({ ok: false, error: 'refused_address', detail: `${host} may not be reached` });
  const https = u.protocol === 'https:';
  return new Promise((resolve) => {
    // The whole exchange, resolving and connecting included, not only a silence: a receiver dribbling its answer fails too.
    const deadline = setTimeout(() => {
      done({ ok: false, error: 'timeout', detail: `no answer within ${o.timeoutMs} ms` });
      req.destroy();
    }, o.timeoutMs);
    const done = (outcome: Outcome) => {
      clearTimeout(deadline);
      resolve(outcome);
    };
    // node:http follows no redirect: a 3xx is a failure like any other non-202.
    const req = (https ? httpsRequest : httpRequest)(u, {
      method: 'POST', agent: https ? o.agents.https : o.agents.http, ...(o.policy ? { lookup: o.policy.lookup } : {}),
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
        done(status === 202 || status === 200 || status === 400 ? { ok: true, status } : { ok: false, error: `http ${Math.floor(status / 100)}xx`, detail: `HTTP ${status}` });
      });
    });
    req.on('error', (err) => done(failure(err, req.socket)));
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
  /** This instance's own connection pools: a socket another instance opened (under other address rules) is never reused. */
  readonly #send: SendOptions;

  constructor(private readonly o: DeliveryOptions) {
    this.#send = { timeoutMs: o.timeoutMs, policy: o.policy, agents: { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) } };
  }

  start(): void {
    this.#timer ??= setInterval(() => this.kick(), PUSH_TICK_MS);
    this.#timer.unref();
  }

  /** Stops delivering from this instance (a turn under way finishes). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#send.agents.http.destroy();
    this.#send.agents.https.destroy();
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
          const outcome = await send(found.target, e.set, this.#send);
          if (!outcome.ok) {
            this.o.log.warn({ aud, error: outcome.error, detail: outcome.detail }, 'SSF push failed; retrying later');
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

  async #failed(aud: string, before: PushState, error: PushError): Promise<PushState> {
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
