import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { RequestContext } from '../audit/context.js';
import type { EventSink } from '../audit/events.js';
import type { Registry } from '../clients/types.js';
import { DEFAULT_KILL_WAIT_MS, ProbeSetupError, runProbe, tokenUrlOf } from '../probe/engine.js';
import type { Fetch } from '../probe/http.js';
import { MAX_NOTE_CHARS, verdictOf, type ProbeCase, type ProbeReport } from '../probe/report.js';
import { RefusedAddressError, type PushAddressPolicy } from '../push/address-policy.js';
import { guardedFetch } from '../push/guarded-fetch.js';
import type { RegistryService } from '../registry/service.js';
import type { SessionService } from '../sessions/service.js';
import type { ProbeStore, ProbeTarget } from '../store/probes.js';
import { serviceProbeAdmin } from './probe-admin.js';
import { recordProbe } from './probes.js';

/** Who the scheduled probe's changes, kills and reports are recorded as: the system, not an admin agent. */
export const PROBE_SCHEDULE_ACTOR = 'agent-sts:probe-schedule';
/** Every instance looks for a due probe this often (a probe is due once per interval, on one instance). */
const TICK_MS = 60_000;

export interface ProbeScheduleOptions {
  /** Each resource server is probed at most once per this long (the lease's life). */
  intervalMs: number;
  store: ProbeStore;
  /** The live registry: a target of a resource server no longer registered is skipped. */
  registry: Registry;
  service: RegistryService;
  sessions: SessionService;
  events: EventSink;
  /** The STS's base URL (its issuer): the probe's agents get their tokens at its token endpoint. */
  issuer: string;
  /** Production: where the probe may connect (push delivery's address rules); absent: anywhere. */
  policy?: PushAddressPolicy;
  log: Logger;
}

/**
 * The server's own enforcement probe, on a schedule (STS_PROBE_INTERVAL_MINUTES): every registered
 * probe target is probed once per interval by whichever instance takes its lease first, one
 * probe at a time per instance, and recorded as a CLI's report is (resource_server.probed, the
 * last probe) with PROBE_SCHEDULE_ACTOR as the actor.
 */
export class ProbeSchedule {
  readonly #holder = randomBytes(9).toString('base64url');
  readonly #fetch: Fetch;
  readonly #tokenUrl: string;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(private readonly o: ProbeScheduleOptions) {
    const guarded = guardedFetch(o.policy);
    this.#tokenUrl = tokenUrlOf(o.issuer);
    // The STS's own token endpoint is configuration, not a registered address: only it is fetched plainly.
    this.#fetch = (url, init) => (url === this.#tokenUrl ? fetch(url, init) : guarded(url, init));
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), TICK_MS);
    this.#timer.unref();
  }

  /** Stops scheduling on this instance; a probe under way fails when the stores close, and the next one resets its agents. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Probes every due target this instance wins the lease of, one after another; the resource servers it probed. */
  async tick(): Promise<string[]> {
    if (this.#running) return [];
    this.#running = true;
    const probed: string[] = [];
    try {
      for (const [rs, target] of await this.o.store.targets()) {
        if (!this.o.registry.resourceServer(rs)) continue;
        if (!(await this.o.store.claim(rs, this.#holder, this.o.intervalMs, this.o.sessions.now()))) continue;
        try {
          await this.#probe(rs, target);
          probed.push(rs);
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message, resourceServer: rs }, 'scheduled probe failed; the next interval retries');
        }
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'scheduled probe: the store did not answer; the next tick retries');
    } finally {
      this.#running = false;
    }
    return probed;
  }

  async #probe(rs: string, target: ProbeTarget): Promise<void> {
    const context: RequestContext = { requestId: `probe-schedule-${randomBytes(6).toString('base64url')}`, startedMs: this.o.sessions.now() };
    const startedAt = new Date().toISOString();
    const refused = await this.#refusal(target.url);
    let report: ProbeReport;
    if (refused) report = notProbed(rs, target, startedAt, refused);
    else {
      try {
        report = (await runProbe({
          stsUrl: this.o.issuer, resourceServer: rs, target: target.url, dpop: target.dpop, fetch: this.#fetch, ...(target.scope ? { scope: target.scope } : {}),
        }, serviceProbeAdmin(this.o.service, this.o.sessions, { agent: PROBE_SCHEDULE_ACTOR, scopes: [], context }))).report;
      } catch (err) {
        if (!(err instanceof ProbeSetupError)) throw err;
        report = notProbed(rs, target, startedAt, err.message);
      }
    }
    await recordProbe(this.o, report, PROBE_SCHEDULE_ACTOR, context);
  }

  /** Why the target's host may not be reached now (production's address rules, judged on what it resolves to), if it may not. */
  async #refusal(url: string): Promise<string | undefined> {
    const policy = this.o.policy;
    if (!policy) return undefined;
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host)) return policy.permits(host) ? undefined : `${host} may not be reached (STS_SSF_PUSH_ALLOW lists internal addresses allowed)`;
    try {
      await policy.addresses(host);
      return undefined;
    } catch (err) {
      if (err instanceof RefusedAddressError) return `${err.message} (STS_SSF_PUSH_ALLOW lists internal addresses allowed)`;
      throw err;
    }
  }
}

/** The report of a target that could not be probed: the baseline failed (nothing was presented), so the verdict is setup_wrong. */
function notProbed(rs: string, target: ProbeTarget, startedAt: string, why: string): ProbeReport {
  const cases: ProbeCase[] = [{ id: 'baseline', outcome: 'fail', status: null, challenge: null, note: `not probed: ${why}`.slice(0, MAX_NOTE_CHARS) }];
  return {
    resourceServer: rs, target: target.url, scope: target.scope ?? null, dpop: target.dpop, verdict: verdictOf(cases), killLatencyMs: null,
    killWaitMs: DEFAULT_KILL_WAIT_MS, startedAt, finishedAt: new Date().toISOString(), cases,
  };
}
