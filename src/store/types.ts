import type { Actor, DpopConfirmation } from 'agent-sts-gate/protocol';

export type { Actor };

/** One issued token's session. Raw tokens are never stored: only `tokenHash` (SHA-256). */
export interface Session {
  sid: string;
  /** Parent session id; absent for a root session. */
  parent?: string;
  /** Every ancestor, root first; empty for a root session. */
  ancestors: string[];
  /** The agent holding each ancestor, root first (parallel to `ancestors`); empty for a root session. */
  chain: string[];
  depth: number;
  /** Smallest maxDelegationDepth on the chain: no descendant may be deeper. */
  maxDepth: number;
  /** The agent the token was issued to (client_id). */
  agent: string;
  sub: string;
  act?: Actor;
  aud: string;
  scope: string[];
  /** Seconds since the epoch, as in the JWT. */
  iat: number;
  exp: number;
  jti: string;
  /** RFC 9449 binding: the thumbprint of the key every use of the token must prove; absent for a bearer token. */
  cnf?: DpopConfirmation;
  tokenHash: string;
}

/** What a live token's session says about the token: what introspection reports and revocation checks. */
export type TokenClaims = Pick<Session, 'sid' | 'agent' | 'sub' | 'act' | 'aud' | 'scope' | 'iat' | 'exp' | 'jti' | 'chain' | 'cnf'>;

/**
 * What every record of a killed session names (the kill records, the outbox, the SETs built from
 * them): the session, who held it on behalf of whom, the audience that must hear of it, and its
 * token's exp (seconds), until which a subscriber keeps it as revoked. In canonical (sorted) order.
 */
export const KILLED_SESSION_FIELDS = ['agent', 'aud', 'exp', 'sid', 'sub'] as const;

export type KilledSession = Pick<Session, (typeof KILLED_SESSION_FIELDS)[number]>;

/**
 * A killed session's members alone, in canonical order: a 10,000-session kill's record is then
 * written without sorting each entry.
 */
export const killedSession = (s: KilledSession): KilledSession => Object.fromEntries(KILLED_SESSION_FIELDS.map((f) => [f, s[f]])) as KilledSession;

/** A live session a kill removed: a killed session and its act chain, so the kill can drop every agent's index entry. */
export type RemovedSession = KilledSession & Pick<Session, 'act'>;

/**
 * What a kill tells the outbox about itself, so its sessions can still be announced to their
 * resource servers if the kill's own announcement never lands: a unique id per kill call (it
 * names the kill's outbox marks), the request that asked, and why.
 */
export interface KillTag {
  id: string;
  /** The request id of the kill (its `revocation.requested` record's). */
  kill: string;
  reason: string;
}

/** A killed session whose announcement (CAEP session-revoked SET) is not yet known to have landed. */
export type UnannouncedSession = KilledSession & Pick<KillTag, 'kill' | 'reason'>;

/** The outbox of one tree, as `unannounced` lists it: its overdue marks, and every session still waiting in it. */
export interface UnannouncedTree {
  root: string;
  /** The marks (one per kill call) that made the tree overdue; `forgetAnnounced` removes exactly these. */
  marks: string[];
  sessions: UnannouncedSession[];
}

/**
 * Why `create` stored a session or refused it (refusals write nothing). `expired`: the session's
 * own expiry had passed by the time it reached the store (a request straddling its last second).
 * `agent_disabled`: an agent the session names is disabled (its status key, not the registry cache).
 */
export type CreateOutcome = 'created' | 'ancestor_revoked' | 'agent_revoked' | 'agent_disabled' | 'expired';

/** Every agent that holds (client_id) or acts in (act chain) a session: who an agent-wide kill reaches. */
export function agentsOf(s: Pick<Session, 'agent' | 'act'>): string[] {
  const seen = new Set([s.agent]);
  for (let a = s.act; a; a = a.act) seen.add(a.sub);
  return [...seen];
}

/** Every agent a session names: the ones agentsOf reaches and the holder of every ancestor. */
export function agentsNamedBy(s: Pick<Session, 'agent' | 'act' | 'chain'>): string[] {
  return [...new Set([...agentsOf(s), ...s.chain])];
}

/**
 * An agent-wide kill first leaves a "not before" marker on the agent: a create for a request that
 * arrived no later than the marker is refused. The marker outlives any request still in flight.
 */
export const AGENT_KILL_MARKER_TTL_MS = 600_000;
/**
 * How far instances' clocks may disagree: the marker is the kill's time plus this, so a request
 * timed by an instance whose clock runs behind is still refused. Requests arriving within this
 * long after the kill are refused too (they may retry).
 */
export const AGENT_KILL_CLOCK_SKEW_MS = 1_000;

/** The marker value an agent-wide kill at `nowMs` leaves: creates for requests that arrived until then are refused. */
export const agentKillMarker = (nowMs: number) => nowMs + AGENT_KILL_CLOCK_SKEW_MS;

/** Integer-valued fields: a fraction would be a programming error upstream (time claims are normalised at the protocol boundary). */
const INTEGER_FIELDS = ['exp', 'iat', 'depth', 'maxDepth'] as const;

/** Throws (a plain Error: a bug, not a client mistake) unless every integer field is a safe integer. */
export function assertStorable(s: Session): void {
  for (const f of INTEGER_FIELDS) {
    if (!Number.isSafeInteger(s[f])) throw new Error(`session ${s.sid}: ${f} must be an integer, got ${s[f]}`);
  }
}

export interface SessionFilter {
  agent?: string;
  sub?: string;
}

/**
 * The order of a session list: soonest-expiring first (the default), or latest-expiring first,
 * which puts the sessions issued last first when lifetimes are alike (an incident's newest).
 */
export type ListOrder = 'soonest_expiry' | 'latest_expiry';

/**
 * Session ids: a root is 16 base64url characters (96 random bits); every descendant is
 * `<root>.<16 more>`, so any sid names its tree (the Redis layout keeps a tree in one cluster slot).
 */
export const SID_PATTERN = /^[A-Za-z0-9_-]{16}(\.[A-Za-z0-9_-]{16})?$/;

export function rootOf(sid: string): string {
  const dot = sid.indexOf('.');
  return dot < 0 ? sid : sid.slice(0, dot);
}
