import { randomBytes } from 'node:crypto';
import {
  CAEP_SESSION_REVOKED, MAX_SESSIONS_PER_SET, REVOKED_SESSIONS_MEMBER, SET_TYP, SSF_VERIFICATION,
  type InitiatingEntity, type SessionRevokedEvent, type SubjectIdentifier,
} from 'agent-sts-gate/protocol';
import type { DurableEvent } from '../audit/events.js';
import { signCompact, type KeyStore } from '../keys/keystore.js';
import type { KilledSession } from '../store/index.js';

/** One signed SET for one audience. */
export interface SignedSet {
  aud: string;
  jti: string;
  set: string;
}

type KillEvent = Extract<DurableEvent, { sessions: KilledSession[] }>;

const isKill = (e: DurableEvent): e is KillEvent => 'sessions' in e && Array.isArray(e.sessions);

/** Who started the kill and why, as CAEP wants it said (reason_admin must not be empty). */
function cause(e: KillEvent): { entity: InitiatingEntity; reason: string } {
  if (e.type === 'agent.sessions_revoked') return { entity: 'admin', reason: `every session of agent ${e.agent} was revoked` };
  if (e.type === 'subject.sessions_revoked') return { entity: 'admin', reason: `every session on behalf of ${e.sub} was revoked` };
  if (e.type === 'revocation.announced' && (e.reason === 'agent' || e.reason === 'subject')) {
    return { entity: 'admin', reason: `every session of the ${e.reason === 'agent' ? 'agent' : 'user'} was revoked` };
  }
  if (e.reason === 'revocation') return { entity: 'user', reason: 'the agent revoked its token' };
  if (e.reason === 'entitlement') return { entity: 'policy', reason: 'the agent\'s entitlement was narrowed' };
  return { entity: 'admin', reason: 'an administrator killed the session and its delegations' };
}

const opaque = (id: string) => ({ format: 'opaque' as const, id });

/** The kill's target: the session (with its user and agent), the agent, or the user. */
function subjectOf(e: KillEvent): SubjectIdentifier {
  if (e.type === 'agent.sessions_revoked') return { format: 'complex', application: opaque(e.agent) };
  if (e.type === 'subject.sessions_revoked') return { format: 'complex', user: opaque(e.sub) };
  const target = e.type === 'revocation.announced' ? e.sessions[0]!.sid : e.sid;
  const root = e.sessions.find((s) => s.sid === target) ?? e.sessions[0];
  return { format: 'complex', session: opaque(target), ...(root ? { user: opaque(root.sub), application: opaque(root.agent) } : {}) };
}

function byAudience(sessions: KilledSession[]): Map<string, KilledSession[]> {
  const out = new Map<string, KilledSession[]>();
  for (const s of sessions) {
    const list = out.get(s.aud);
    if (list) list.push(s);
    else out.set(s.aud, [s]);
  }
  return out;
}

/**
 * The CAEP session-revoked SETs a kill event produces: per audience, one SET per
 * MAX_SESSIONS_PER_SET sessions it held, all sharing the kill's `txn` (its request id). Anything
 * that is not a kill, or a kill that removed nothing, produces none.
 */
export function setsForKill(event: DurableEvent, keys: KeyStore, issuer: string, nowMs: number): SignedSet[] {
  if (!isKill(event) || event.sessions.length === 0) return [];
  const { entity, reason } = cause(event);
  const sub_id = subjectOf(event);
  const iat = Math.floor(nowMs / 1000);
  const event_timestamp = Math.floor(Date.parse(event.time) / 1000);
  const key = keys.current();
  const out: SignedSet[] = [];
  for (const [aud, sessions] of byAudience(event.sessions)) {
    for (let i = 0; i < sessions.length; i += MAX_SESSIONS_PER_SET) {
      const jti = randomBytes(16).toString('base64url');
      const body: SessionRevokedEvent = {
        event_timestamp, initiating_entity: entity, reason_admin: { en: reason },
        [REVOKED_SESSIONS_MEMBER]: sessions.slice(i, i + MAX_SESSIONS_PER_SET).map((s) => ({ sid: s.sid, exp: s.exp })),
      };
      const payload = { iss: issuer, jti, iat, aud, txn: event.requestId, sub_id, events: { [CAEP_SESSION_REVOKED]: body } };
      out.push({ aud, jti, set: signCompact(key, { typ: SET_TYP }, payload) });
    }
  }
  return out;
}

/** The SSF verification SET a receiver asked for: its subject is the stream, `state` echoed back. */
export function verificationSet(keys: KeyStore, issuer: string, aud: string, streamId: string, state: string | undefined, nowMs: number): SignedSet {
  const jti = randomBytes(16).toString('base64url');
  const payload = {
    iss: issuer, jti, iat: Math.floor(nowMs / 1000), aud, sub_id: { format: 'opaque', id: streamId },
    events: { [SSF_VERIFICATION]: state === undefined ? {} : { state } },
  };
  return { aud, jti, set: signCompact(keys.current(), { typ: SET_TYP }, payload) };
}
