import type { Logger } from 'pino';
import { OAuthError, RETRY_AFTER_SECONDS } from '../errors.js';
import type { ProbeReport } from '../probe/report.js';
import type { AuditAppend } from '../store/audit.js';
import type { Actor, KilledSession } from '../store/index.js';
import type { RequestContext } from './context.js';

/** What every event carries: when (ISO 8601, service clock), which request, and who acted. */
export interface EventEnvelope {
  time: string;
  requestId: string;
  /** The acting client id; null when the caller never authenticated (a denial). */
  actor: string | null;
  /** Admin API calls: the admin token's session id. */
  adminSid?: string;
  /** Members cut to MAX_RECORD_FIELD_CHARS (src/audit/bounds.ts): their original lengths. */
  truncated?: Record<string, number>;
}

export const isoTime = (nowMs: number): string => new Date(nowMs).toISOString();

export const envelope = (context: RequestContext, nowMs: number, actor: string | null): EventEnvelope => ({
  time: isoTime(nowMs),
  requestId: context.requestId,
  actor,
  ...(context.adminSid ? { adminSid: context.adminSid } : {}),
});

/** Why a session tree was killed: the agent revoked its token (RFC 7009), an admin killed it, or an admin narrowed the agent's entitlement. */
export type KillReason = 'revocation' | 'admin' | 'entitlement';

/** Events that must be durable before the answer: the audit trail may not miss an issuance or a kill. */
export type DurableEvent = EventEnvelope & (
  | { type: 'token.issued'; sid: string; parent?: string; parentAgent?: string; agent: string; sub: string; act?: Actor; aud: string; scope: string[]; exp: number; ttl?: number; grant: string; assertion?: { iss: string; jti: string } }
  | { type: 'session.revoked'; sid: string; revoked: number; sessions: KilledSession[]; by: string; reason: KillReason }
  | { type: 'agent.sessions_revoked'; agent: string; revoked: number; sessions: KilledSession[]; by: string }
  | RevocationRequested
  | RevocationAnnounced
  | RegistryEvent
  | RegistryChangeRequested
  | ResourceServerProbed
);

/**
 * An enforcement probe's report, as the admin that ran it posted it (`by`): every case's outcome
 * and evidence, the verdict and the kill latency (src/probe/report.ts).
 */
export type ResourceServerProbed = { type: 'resource_server.probed'; by: string } & ProbeReport;

/**
 * Sessions a kill removed whose own record or announcement never landed (its answer was a 503, or
 * its process died), recorded and announced afterwards from the kill outbox: `kill` is the request
 * id of that kill, `reason` its reason (`agent`, `subject` or a KillReason). May repeat sessions a
 * record already named (a kill whose record landed but whose SETs did not).
 */
export interface RevocationAnnounced { type: 'revocation.announced'; kill: string; reason: string; revoked: number; sessions: KilledSession[] }

/**
 * Recorded before a registry change is applied (a trail that cannot take it refuses the change,
 * 503, with nothing changed); its outcome (`agent.*`, `resource_server.*`) follows once every step
 * is done, with the same requestId, or with `completes` naming it when another request or an
 * instance's sweep finished it.
 */
export interface RegistryChangeRequested { type: 'registry.change_requested'; kind: 'agent' | 'resource_server'; id: string; op: string; by: string }

/**
 * Recorded before a kill runs, so no kill happens without a record: a kill's outcome (which
 * sessions died) is known only inside the store's scripts, after the fact, and is recorded then
 * (session.revoked, agent.sessions_revoked, subject.sessions_revoked, with the same requestId).
 */
export type RevocationRequested =
  | { type: 'revocation.requested'; of: 'session'; sid: string; by: string; reason: KillReason }
  | { type: 'revocation.requested'; of: 'agent'; agent: string; by: string }
  | { type: 'revocation.requested'; of: 'subject'; sub: string; by: string };

export type Endpoint = 'token' | 'introspect' | 'revoke';
/** Registry changes through the admin API (`by`: the admin agent; the envelope has its adminSid). */
export type RegistryEvent = RegistryOutcome & { completes?: string };
type RegistryOutcome =
  | { type: 'agent.created' | 'agent.enabled'; agent: string; by: string }
  | { type: 'agent.updated'; agent: string; by: string; fields: string[]; revoked: number }
  | { type: 'agent.disabled' | 'agent.deleted'; agent: string; by: string; revoked: number }
  | { type: 'agent.credential_rotated' | 'agent.credential_deleted'; agent: string; by: string; credential: string; credentialType: 'secret' | 'jwk'; previousValidUntil?: string | null }
  | { type: 'resource_server.created' | 'resource_server.deleted'; resourceServer: string; by: string }
  | { type: 'resource_server.updated'; resourceServer: string; by: string; fields: string[] }
  | { type: 'resource_server.credential_rotated' | 'resource_server.credential_deleted'; resourceServer: string; by: string; credential: string; credentialType: 'secret' | 'jwk'; previousValidUntil?: string | null }
  | { type: 'subject.sessions_revoked'; sub: string; revoked: number; sessions: KilledSession[]; by: string }
  /** SSF push to a resource server's endpoint keeps failing (reported once per run of failures), or works again. */
  | { type: 'resource_server.push_failing'; resourceServer: string; attempts: number; error: string; since: string }
  | { type: 'resource_server.push_recovered'; resourceServer: string; attempts: number; since: string };

/** Best-effort events: losing one costs a log line, never an answer. */
export type BestEffortEvent = EventEnvelope & (
  | {
    type: 'token.denied';
    endpoint: Endpoint;
    agent?: string;
    grant?: string;
    error: string;
    /** A precise, stable code (`not_a_delegate`, `depth_exceeded`, `agent_disabled`, …); the OAuth error when none is more precise. */
    reason: string;
    description?: string;
    /** The error's operator-only detail (never sent to the client). */
    detail?: string;
    /** The caller's address (the socket's, or X-Forwarded-For's through trusted proxies). */
    address?: string;
    /** The client id the caller presented, when it did not authenticate (`actor` null). */
    clientId?: string;
    /**
     * A caller that never authenticated, refused again within DENIAL_WINDOW_MS (src/audit/guard.ts):
     * its first refusal has a record of its own, the rest one record at the window's close, standing
     * for `count` refusals from `firstTime` to `lastTime` (the fields of the last one).
     */
    count?: number;
    firstTime?: string;
    lastTime?: string;
  }
  /**
   * An admin asked for a change it lacks the authority for (it would give an agent admin scopes,
   * or hand out a credential of one, beyond the admin's own): refused with 403, nothing changed.
   */
  | { type: 'admin.denied'; action: string; target: string; missing: string[]; reason: string }
  /**
   * Refusals of callers that never authenticated, beyond what the trail counts one by one in a
   * window: past DENIAL_WINDOW_MAX_KEYS_PER_ADDRESS for one address (then `address`, an IPv6
   * address as its /64), or past DENIAL_WINDOW_MAX_KEYS in all (no `address`).
   */
  | { type: 'token.denied_overflow'; count: number; firstTime: string; lastTime: string; address?: string }
  /**
   * A token we issued (its signature verified), whose session a kill removed, presented again:
   * whoever holds it kept going after being stopped. At most one per session per
   * USED_AFTER_REVOCATION_EVERY_MS per process. `actor`: who presented it, when authenticated.
   */
  | { type: 'token.used_after_revocation'; endpoint: Endpoint; sid: string; agent: string; sub: string; aud: string }
);

export type StsEvent = DurableEvent | BestEffortEvent;

/**
 * Every issuance, denial and kill passes through one EventSink: deps.ts fans it out to the
 * hash-chained audit trail (behind the TrailGuard), the usage counts, the metrics and the SSF sink
 * (CAEP session-revoked SETs for polls and push). The contract:
 * - `record` resolves once the event is durable. The service awaits it before answering; a
 *   rejection fails the request closed (503): for an issuance the session is already stored but
 *   its token never leaves the server; for a kill the kill has happened and retrying is harmless.
 * - `emit` is fire-and-forget and must never throw into the request.
 */
export interface EventSink {
  /** `prepared`: what `prepare` returned for this event (the trail's record, perhaps already appended). */
  record(event: DurableEvent, prepared?: AuditAppend): Promise<void>;
  emit(event: BestEffortEvent): void;
  /**
   * The audit trail's record of `event`, for a store that can append it in the same atomic step
   * as its own write (see SessionStore.create); `record(event, prepared)` then does not append it again.
   */
  prepare?(event: DurableEvent): AuditAppend | undefined;
}

/** What a request answers when its durable event could not be recorded. */
export class AuditUnavailableError extends OAuthError {
  constructor(cause?: unknown) {
    super(503, 'temporarily_unavailable', 'audit trail unavailable', { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    this.name = 'AuditUnavailableError';
    this.cause = cause;
  }
}

/** For `sink.record(e).catch(auditUnavailable)`: any recording failure becomes the fail-closed 503. */
export const auditUnavailable = (cause: unknown): never => {
  throw new AuditUnavailableError(cause);
};

export function logEventSink(log: Logger): EventSink {
  return {
    record: async (event) => log.info({ event }, event.type),
    emit: (event) => log.info({ event }, event.type),
  };
}

/** Keeps events in memory: for tests and for wiring several sinks together. */
export class RecordingEventSink implements EventSink {
  readonly events: StsEvent[] = [];
  async record(event: DurableEvent): Promise<void> {
    this.events.push(event);
  }
  emit(event: BestEffortEvent): void {
    this.events.push(event);
  }
}

/**
 * Every sink gets every event. `record` resolves when all sinks have recorded it and rejects if
 * any did not; `emit` isolates the sinks: one that throws is logged, the others still get the event.
 */
export function fanOut(log: Logger, ...sinks: EventSink[]): EventSink {
  return {
    record: async (e, prepared) => {
      // a plain loop, no async wrapper per sink: this runs for every token issued
      const pending: Promise<void>[] = [];
      for (const s of sinks) pending.push(s.record(e, prepared));
      await Promise.all(pending);
    },
    prepare: (e) => {
      for (const s of sinks) {
        const p = s.prepare?.(e);
        if (p) return p;
      }
      return undefined;
    },
    emit: (e) => {
      for (const s of sinks) {
        try {
          s.emit(e);
        } catch (err) {
          log.error({ err, requestId: e.requestId, type: e.type }, 'event sink failed; event dropped for that sink');
        }
      }
    },
  };
}
