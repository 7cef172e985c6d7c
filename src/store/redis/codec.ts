import type { Actor, Session } from '../types.js';

/**
 * Field order of a session HASH as every script reads it (HMGET in this order). th, exp and anc
 * come first because the Lua scripts check them by position.
 */
export const SESSION_FIELDS = ['th', 'exp', 'anc', 'p', 'd', 'md', 'ag', 'sub', 'act', 'aud', 'sc', 'iat', 'jti'] as const;

export const LUA_SESSION_FIELDS = SESSION_FIELDS.map((f) => `'${f}'`).join(', ');

/** Field/value pairs for HSET (any order; SESSION_FIELDS fixes only the order reads use). */
export function encodeSession(s: Session): string[] {
  return [
    'th', s.tokenHash, 'exp', String(s.exp), 'anc', s.ancestors.join(' '), 'p', s.parent ?? '', 'd', String(s.depth),
    'md', String(s.maxDepth), 'ag', s.agent, 'sub', s.sub, 'act', s.act ? JSON.stringify(s.act) : '', 'aud', s.aud,
    'sc', s.scope.join(' '), 'iat', String(s.iat), 'jti', s.jti,
  ];
}

/** Decodes the HMGET row (SESSION_FIELDS order) of session `sid`. */
export function decodeSession(sid: string, row: (string | null)[]): Session {
  const [th, exp, anc, p, d, md, ag, sub, act, aud, sc, iat, jti] = row.map((v) => v ?? '');
  const session: Session = {
    sid,
    ancestors: anc ? anc.split(' ') : [],
    depth: Number(d),
    maxDepth: Number(md),
    agent: ag,
    sub,
    aud,
    scope: sc ? sc.split(' ') : [],
    iat: Number(iat),
    exp: Number(exp),
    jti,
    tokenHash: th,
  };
  if (p) session.parent = p;
  if (act) session.act = JSON.parse(act) as Actor;
  return session;
}
