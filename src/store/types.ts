import type { Actor } from '../protocol/claims.js';

export type { Actor };

/** One issued token's session. Raw tokens are never stored: only `tokenHash` (SHA-256). */
export interface Session {
  sid: string;
  /** Parent session id; absent for a root session. */
  parent?: string;
  /** Every ancestor, root first; empty for a root session. */
  ancestors: string[];
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
  tokenHash: string;
}

/** What a live token's session says about the token: what introspection reports and revocation checks. */
export type TokenClaims = Pick<Session, 'sid' | 'agent' | 'sub' | 'act' | 'aud' | 'scope' | 'iat' | 'exp' | 'jti'>;

/** Every agent that holds (client_id) or acts in (act chain) a session: who an agent-wide kill reaches. */
export function agentsOf(s: Pick<Session, 'agent' | 'act'>): string[] {
  const seen = new Set([s.agent]);
  for (let a = s.act; a; a = a.act) seen.add(a.sub);
  return [...seen];
}

export interface SessionFilter {
  agent?: string;
  sub?: string;
}

/**
 * Session ids: a root is 16 base64url characters (96 random bits); every descendant is
 * `<root>.<16 more>`, so any sid names its tree (the Redis layout keeps a tree in one cluster slot).
 */
export const SID_PATTERN = /^[A-Za-z0-9_-]{16}(\.[A-Za-z0-9_-]{16})?$/;

export function rootOf(sid: string): string {
  const dot = sid.indexOf('.');
  return dot < 0 ? sid : sid.slice(0, dot);
}
