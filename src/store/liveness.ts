import { unexpired } from 'agent-sts-gate/protocol';
import type { Session } from './types.js';

export { MS_PER_EXP_UNIT, unexpired } from 'agent-sts-gate/protocol';

/**
 * The one liveness rule, shared by every store (the Redis scripts spell it in Lua, with the
 * ancestors' expiry folded into each session's own at create, see redis/scripts.ts): a session is
 * live while it is unexpired and every ancestor is live; a token is live when, on top of that, its
 * hash is the one stored.
 */

/** Unexpired, and every ancestor still live (`ancestorLive` answers for one ancestor sid). */
export function chainLive(s: Pick<Session, 'exp' | 'ancestors'>, nowMs: number, ancestorLive: (sid: string) => boolean): boolean {
  return unexpired(s.exp, nowMs) && s.ancestors.every(ancestorLive);
}

/** The presented token's hash is the stored one, and the session's chain is live. */
export function tokenLive(
  s: Pick<Session, 'tokenHash' | 'exp' | 'ancestors'>,
  tokenHash: string,
  nowMs: number,
  ancestorLive: (sid: string) => boolean,
): boolean {
  return s.tokenHash === tokenHash && chainLive(s, nowMs, ancestorLive);
}
