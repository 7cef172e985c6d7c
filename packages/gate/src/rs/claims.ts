import type { AccessTokenClaims } from '../protocol/claims.js';

/** What either mode hands on: an agent-sts token's claims, with the key binding when present. */
export type CheckedClaims = AccessTokenClaims & { cnf?: { jkt: string } };

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * Claims from introspection or a verified JWT, held to the shape agent-sts issues; undefined when a
 * required member is missing or of the wrong type (such a token is not one this gate accepts).
 */
export function wellFormedClaims(c: Record<string, unknown>): CheckedClaims | undefined {
  const { iss, sub, aud, client_id, scope, iat, exp, jti, sid, act, cnf } = c;
  if (![iss, sub, aud, client_id, jti, sid].every(isString)) return undefined;
  if (typeof scope !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') return undefined;
  const out: CheckedClaims = {
    iss: iss as string, sub: sub as string, aud: aud as string, client_id: client_id as string, scope, iat, exp,
    jti: jti as string, sid: sid as string,
  };
  if (act !== undefined) {
    if (typeof act !== 'object' || act === null || !isString((act as { sub?: unknown }).sub)) return undefined;
    out.act = act as AccessTokenClaims['act'];
  }
  if (cnf !== undefined) {
    const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as { jkt?: unknown }).jkt : undefined;
    if (!isString(jkt)) return undefined;
    out.cnf = { jkt };
  }
  return out;
}
