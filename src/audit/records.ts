import { killedSession, type Actor, type KilledSession, type RemovedSession, type Session } from '../store/index.js';
import type { RequestContext } from './context.js';
import type { ProbeCase, ProbeReport } from '../probe/report.js';
import { isoTime, type DurableEvent, type KillReason } from './events.js';

/**
 * The records the session service writes, one builder each, every member written in canonical
 * (sorted) order, nested ones too: the trail then stores them with one JSON.stringify instead of
 * sorting (see canonicalJson). `test/unit/records.test.ts` checks each builder's output is already
 * canonical, so a member added out of order fails a test instead of silently slowing issuance.
 */

/** An act chain with `act` before `sub` at every depth. */
export function canonicalActor(a: Actor): Actor {
  return a.act ? { act: canonicalActor(a.act), sub: a.sub } : { sub: a.sub };
}

/** What a kill record says of each session it removed (members sorted: store/types.ts killedSession). */
export const killedSessions = (removed: readonly KilledSession[]): KilledSession[] => removed.map(killedSession);

type IssuedSession = Pick<Session, 'act' | 'agent' | 'aud' | 'exp' | 'iat' | 'scope' | 'sid' | 'sub'>;

/** `token.issued`: on every issuance, so written without a sort. `assertion`: the ID-JAG it was granted on. */
export function tokenIssued(
  s: IssuedSession, parent: Pick<Session, 'sid' | 'agent'> | undefined, grant: string, context: RequestContext, nowMs: number,
  assertion?: { iss: string; jti: string },
): DurableEvent {
  // Conditional members are spread in their sorted places: act < actor < adminSid < agent < assertion …
  return {
    ...(s.act ? { act: canonicalActor(s.act) } : {}), actor: s.agent, ...(context.adminSid ? { adminSid: context.adminSid } : {}),
    agent: s.agent, ...(assertion ? { assertion: { iss: assertion.iss, jti: assertion.jti } } : {}), aud: s.aud, exp: s.exp, grant,
    ...(parent ? { parent: parent.sid, parentAgent: parent.agent } : {}), requestId: context.requestId, scope: s.scope,
    sid: s.sid, sub: s.sub, time: isoTime(nowMs), ttl: s.exp - s.iat, type: 'token.issued',
  };
}

/** The envelope's members, to be spread in their sorted places by the kill builders below. */
const head = (context: RequestContext, actor: string) => ({ actor, ...(context.adminSid ? { adminSid: context.adminSid } : {}) });

export type KillTarget = { of: 'session'; sid: string; reason: KillReason } | { of: 'agent'; agent: string } | { of: 'subject'; sub: string };

/** `revocation.requested`: before a kill runs. */
export function revocationRequested(target: KillTarget, by: string, context: RequestContext, nowMs: number): DurableEvent {
  const { actor, ...admin } = head(context, by);
  if (target.of === 'session') {
    return { actor, ...admin, by, of: 'session', reason: target.reason, requestId: context.requestId, sid: target.sid, time: isoTime(nowMs), type: 'revocation.requested' };
  }
  if (target.of === 'agent') {
    return { actor, ...admin, agent: target.agent, by, of: 'agent', requestId: context.requestId, time: isoTime(nowMs), type: 'revocation.requested' };
  }
  return { actor, ...admin, by, of: 'subject', requestId: context.requestId, sub: target.sub, time: isoTime(nowMs), type: 'revocation.requested' };
}

/** A kill's outcome: `session.revoked`, `agent.sessions_revoked` or `subject.sessions_revoked`, listing what it removed. */
export function killOutcome(target: KillTarget, removed: readonly RemovedSession[], by: string, context: RequestContext, nowMs: number): DurableEvent {
  const { actor, ...admin } = head(context, by);
  const sessions = killedSessions(removed);
  const revoked = sessions.length;
  const time = isoTime(nowMs);
  const { requestId } = context;
  if (target.of === 'session') {
    return { actor, ...admin, by, reason: target.reason, requestId, revoked, sessions, sid: target.sid, time, type: 'session.revoked' };
  }
  if (target.of === 'agent') return { actor, ...admin, agent: target.agent, by, requestId, revoked, sessions, time, type: 'agent.sessions_revoked' };
  return { actor, ...admin, by, requestId, revoked, sessions, sub: target.sub, time, type: 'subject.sessions_revoked' };
}

/** `revocation.announced`: sessions of one kill announced late, from the outbox. */
export function revocationAnnounced(kill: string, reason: string, sessions: KilledSession[], actor: string, context: RequestContext, nowMs: number): DurableEvent {
  return {
    actor, ...(context.adminSid ? { adminSid: context.adminSid } : {}), kill, reason, requestId: context.requestId,
    revoked: sessions.length, sessions, time: isoTime(nowMs), type: 'revocation.announced',
  };
}

/** A probe case with its members sorted (challenge < id < latencyMs < note < outcome < status). */
const canonicalCase = (c: ProbeCase): ProbeCase => ({
  challenge: c.challenge, id: c.id, ...(c.latencyMs !== undefined ? { latencyMs: c.latencyMs } : {}), ...(c.note !== undefined ? { note: c.note } : {}),
  outcome: c.outcome, status: c.status,
});

/** `resource_server.probed`: an enforcement probe's report, posted by admin `by`. */
export function resourceServerProbed(r: ProbeReport, by: string, context: RequestContext, nowMs: number): DurableEvent {
  return {
    actor: by, ...(context.adminSid ? { adminSid: context.adminSid } : {}), by, cases: r.cases.map(canonicalCase), dpop: r.dpop, finishedAt: r.finishedAt,
    killLatencyMs: r.killLatencyMs, killWaitMs: r.killWaitMs, requestId: context.requestId, resourceServer: r.resourceServer, scope: r.scope,
    startedAt: r.startedAt, target: r.target, time: isoTime(nowMs), type: 'resource_server.probed', verdict: r.verdict,
  };
}
