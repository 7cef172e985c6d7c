/**
 * What agent-sts's Security Event Tokens (RFC 8417) and its SSF poll endpoint (RFC 8936) look like
 * to a receiver: shared by the server that builds them and the resource-server side that reads them.
 */

/** RFC 8417 §2.3: the `typ` header of a SET. */
export const SET_TYP = 'secevent+jwt';
/** RFC 8935 §2: the media type of a pushed SET. */
export const SET_MEDIA_TYPE = 'application/secevent+jwt';
/** CAEP 1.0 §3.1. */
export const CAEP_SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';

/** SSF 1.0 §8.1.4: the event a receiver asks for to check its stream end to end. */
export const SSF_VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

/**
 * An extension member of the session-revoked event: every session the kill removed that this
 * audience holds a token of, each with its token's exp (seconds). A mid-tree kill's descendants
 * cannot be derived from a sid, so the list is what a subscriber drops; `sub_id` names the session
 * (or agent, or user) the kill was aimed at.
 */
export const REVOKED_SESSIONS_MEMBER = 'revoked_sessions';
/** At most this many sessions in one SET; a larger kill is several SETs sharing its `txn`. */
export const MAX_SESSIONS_PER_SET = 1_000;

export interface RevokedSession {
  sid: string;
  exp: number;
}

/** CAEP `initiating_entity`. */
export type InitiatingEntity = 'admin' | 'user' | 'policy' | 'system';

/** An SSF subject (SSF 1.0 §3): `opaque` ids, joined in the `complex` format. */
export interface SubjectIdentifier {
  format: 'complex';
  session?: { format: 'opaque'; id: string };
  user?: { format: 'opaque'; id: string };
  /** The agent (OAuth client) the session was issued to. */
  application?: { format: 'opaque'; id: string };
}

export interface SessionRevokedEvent {
  event_timestamp: number;
  initiating_entity: InitiatingEntity;
  reason_admin: { en: string };
  [REVOKED_SESSIONS_MEMBER]: RevokedSession[];
}

/** RFC 8936 §2.4 poll response; `resync` is agent-sts's: unacknowledged SETs were lost to retention. */
export interface PollResponse {
  sets: Record<string, string>;
  moreAvailable?: boolean;
  resync?: boolean;
}
