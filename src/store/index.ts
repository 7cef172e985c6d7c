import type { Session, SessionFilter, TokenClaims } from './types.js';

export { agentsOf, rootOf, SID_PATTERN, type Session, type SessionFilter, type Actor, type TokenClaims } from './types.js';

/**
 * Session trees. Every method answers from live state; a store failure rejects with
 * StoreUnavailableError (never a guess). A miss resolves to undefined / empty, it does not throw.
 */
export interface SessionStore {
  /**
   * Stores a session, atomically checking that every ancestor is still live. Resolves false (and
   * writes nothing) when an ancestor is gone: a kill in progress or done wins over any exchange.
   */
  create(session: Session, nowMs: number): Promise<boolean>;
  /** The live session whose stored token hash matches, its whole ancestor chain live too. */
  findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined>;
  /** The same lookup, answering only the token's claims: less to read and decode on the hot path. */
  findClaimsByToken(sid: string, tokenHash: string, nowMs: number): Promise<TokenClaims | undefined>;
  /** A live session followed by its live descendants (breadth first); empty when not live. */
  subtree(sid: string, nowMs: number): Promise<Session[]>;
  /** Live sessions, soonest-expiring first, at most `limit`. */
  list(filter: SessionFilter, nowMs: number, limit: number): Promise<Session[]>;
  /** Deletes a session and its whole subtree in one atomic step; resolves how many were live. */
  revokeTree(sid: string): Promise<number>;
  /** Revokes the subtree of every session the agent holds or acts in, atomically. */
  revokeAgent(agentId: string, nowMs: number): Promise<number>;
  /** Connection health: resolves when the store answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Single-use values (client-assertion jti): the first caller wins, every later one loses. */
export interface ReplayStore {
  useOnce(id: string, expiresAtMs: number, nowMs: number): Promise<boolean>;
}

export interface Stores {
  sessions: SessionStore;
  replay: ReplayStore;
}
