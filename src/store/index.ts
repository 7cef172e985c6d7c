import type { AuditAppend, AuditLog } from './audit.js';
import type { ProbeStore } from './probes.js';
import type { ScimSeenStore } from './scim-seen.js';
import type { SsfStore } from './ssf.js';
import type { UsageStore } from './usage.js';
import type { ReplaySpace } from './keys.js';
import type { CreateOutcome, KillTag, ListOrder, RemovedSession, Session, SessionFilter, TokenClaims, UnannouncedTree } from './types.js';
export type { ReplaySpace } from './keys.js';

export {
  agentsOf, agentsNamedBy, rootOf, SID_PATTERN, AGENT_KILL_CLOCK_SKEW_MS, AGENT_KILL_MARKER_TTL_MS,
  type Session, type SessionFilter, type ListOrder, type Actor, type TokenClaims, type RemovedSession, type CreateOutcome,
  KILLED_SESSION_FIELDS, killedSession, type KilledSession,
  type KillTag, type UnannouncedSession, type UnannouncedTree,
} from './types.js';

/**
 * Session trees. Every method answers from live state; a store failure rejects with
 * StoreUnavailableError (never a guess). A miss resolves to undefined / empty, it does not throw.
 */
export interface SessionStore {
  /**
   * Stores a session, atomically checking that every ancestor is still live, that no agent the
   * session names (agentsNamedBy) is disabled, and that none was killed agent-wide at or after
   * `startedMs`, when the request arrived. A refusal writes nothing and says why. Throws (a bug) on
   * a non-integer exp/iat/depth. `audit`: the session's `token.issued` record; a store that can
   * append it to the trail in the same atomic step does so and sets `audit.appended` (else the
   * caller appends it).
   */
  create(session: Session, nowMs: number, startedMs: number, audit?: AuditAppend): Promise<CreateOutcome>;
  /** The live session whose stored token hash matches, its whole ancestor chain live too. */
  findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined>;
  /**
   * The same lookup, answering only the token's claims: less to read and decode on the hot path.
   * With `aud`, a session of another audience is a miss, decided before any per-session work.
   */
  findClaimsByToken(sid: string, tokenHash: string, nowMs: number, aud?: string): Promise<TokenClaims | undefined>;
  /** A live session followed by its live descendants (breadth first); empty when not live. */
  subtree(sid: string, nowMs: number): Promise<Session[]>;
  /** Live sessions, soonest-expiring first (or latest-expiring first), at most `limit`. */
  list(filter: SessionFilter, nowMs: number, limit: number, order?: ListOrder): Promise<Session[]>;
  /**
   * Kills a session and its whole subtree; resolves the live ones removed. The whole subtree is dead
   * for every reader from the first step (the session's own record goes, and every lookup and create
   * requires every ancestor's); a large subtree's records are then removed in bounded steps. With
   * `tag`, the kill's outbox: each step keeps the sessions it removes as unannounced until
   * `announced` confirms their announcement landed; a kill cut off midway is finished by `unannounced`.
   */
  revokeTree(sid: string, nowMs: number, tag?: KillTag): Promise<RemovedSession[]>;
  /**
   * Marks the agent killed as of `nowMs` (creates for requests that arrived until then are
   * refused), then revokes the subtree of every session the agent holds or acts in (`tag` as in revokeTree).
   */
  revokeAgent(agentId: string, nowMs: number, tag?: KillTag): Promise<RemovedSession[]>;
  /** The kill tagged `tag` was announced: its removed sessions leave the outbox. */
  announced(removed: RemovedSession[], tag: KillTag): Promise<void>;
  /**
   * Trees whose outbox holds sessions a kill has not confirmed as announced (its answer failed, or
   * its process died) and whose last step was before `beforeMs` (a one-step kill's: its start; a
   * long kill stamps each step), at most `limit` trees; every session waiting in such a tree is
   * listed, whichever kill removed it. A kill's walk cut off midway is finished first.
   */
  unannounced(beforeMs: number, limit: number): Promise<UnannouncedTree[]>;
  /** Those trees were announced: their listed sessions and marks leave the outbox. */
  forgetAnnounced(trees: UnannouncedTree[]): Promise<void>;
  /**
   * Whether `sid` was removed by a kill (revokeTree/revokeAgent) and has not yet expired: a token
   * of it presented again is `token.used_after_revocation`. Asked only after a lookup missed.
   */
  wasKilled(sid: string, nowMs: number): Promise<boolean>;
  /**
   * Marks an agent disabled (or clears the mark). While marked, `create` refuses every session
   * naming it with `agent_disabled`, whatever any instance's registry cache says. A disable writes
   * this before it kills, so no request in flight can store a session after the kill.
   */
  setAgentDisabled(agentId: string, disabled: boolean): Promise<void>;
  /**
   * Clears the disabled mark, and lowers the agent's kill marker to just before `nowMs` if it is
   * later: the marker refuses creates from requests that arrived before a kill, and after an enable
   * nothing arriving from then on needs refusing (its clock-skew allowance would refuse the next second's requests).
   */
  enableAgent(agentId: string, nowMs: number): Promise<void>;
  /**
   * How many sessions are live at `nowMs`, read from the index of every session (one cheap
   * count, no scan); for the sampled `agent_sts_live_sessions` gauge, never for a decision.
   */
  countLive(nowMs: number): Promise<number>;
  /** Connection health: resolves when the store answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Single-use ids with an expiry (client assertions' and DPoP proofs' jti): the first use of an id
 * in its space wins, every later one loses until `expiresAtMs`. One interface, one Redis and one
 * memory twin (the session stores), one contract.
 */
export interface ReplayStore {
  useOnce(space: ReplaySpace, id: string, expiresAtMs: number, nowMs: number): Promise<boolean>;
}

export interface Stores {
  sessions: SessionStore;
  replay: ReplayStore;
  /** The audit trail, beside the sessions (absent: events go to log lines only). */
  audit?: AuditLog;
  /** Daily usage counts for the access review. */
  usage?: UsageStore;
  /** The SETs waiting for resource servers (SSF). */
  ssf?: SsfStore;
  /** Each resource server's last enforcement probe. */
  probes?: ProbeStore;
  /** When the IdP last saw each SCIM-provisioned agent. */
  scimSeen?: ScimSeenStore;
}
