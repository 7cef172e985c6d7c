import type { Actor, Session, TokenClaims } from '../types.js';

/**
 * Field order of a session HASH as every script reads it (HMGET in this order). th, exp and anc
 * come first because the Lua scripts check them by position; the token's claims follow, so a
 * claims-only read is a prefix (CLAIM_FIELD_COUNT); what only exchange needs comes last.
 */
export const SESSION_FIELDS = ['th', 'exp', 'anc', 'ag', 'sub', 'act', 'aud', 'sc', 'iat', 'jti', 'p', 'd', 'md'] as const;
/** th, exp, anc and the claims: the prefix of SESSION_FIELDS that introspection reads. */
const CLAIM_FIELD_COUNT = 10;

const luaList = (fields: readonly string[]) => fields.map((f) => `'${f}'`).join(', ');
export const LUA_SESSION_FIELDS = luaList(SESSION_FIELDS);
export const CLAIM_FIELDS = SESSION_FIELDS.slice(0, CLAIM_FIELD_COUNT);
export const LUA_CLAIM_FIELDS = luaList(CLAIM_FIELDS);

/** Field/value pairs for HSET (any order; SESSION_FIELDS fixes only the order reads use). */
export function encodeSession(s: Session): string[] {
  return [
    'th', s.tokenHash, 'exp', String(s.exp), 'anc', s.ancestors.join(' '), 'p', s.parent ?? '', 'd', String(s.depth),
    'md', String(s.maxDepth), 'ag', s.agent, 'sub', s.sub, 'act', s.act ? JSON.stringify(s.act) : '', 'aud', s.aud,
    'sc', s.scope.join(' '), 'iat', String(s.iat), 'jti', s.jti,
  ];
}

/** Decodes the claims prefix (CLAIM_FIELD_COUNT fields of SESSION_FIELDS) of session `sid`'s row. */
export function decodeClaims(sid: string, row: (string | null)[]): TokenClaims {
  const [, exp, , ag, sub, act, aud, sc, iat, jti] = row;
  const claims: TokenClaims = {
    sid, agent: ag ?? '', sub: sub ?? '', aud: aud ?? '', scope: sc ? sc.split(' ') : [], iat: Number(iat), exp: Number(exp), jti: jti ?? '',
  };
  if (act) claims.act = JSON.parse(act) as Actor;
  return claims;
}

/** Decodes the HMGET row (SESSION_FIELDS order) of session `sid`. */
export function decodeSession(sid: string, row: (string | null)[]): Session {
  const { act, ...claims } = decodeClaims(sid, row);
  const [th, , anc, , , , , , , , p, d, md] = row;
  const session: Session = { ...claims, ancestors: anc ? anc.split(' ') : [], depth: Number(d), maxDepth: Number(md), tokenHash: th ?? '' };
  if (p) session.parent = p;
  if (act) session.act = act;
  return session;
}
