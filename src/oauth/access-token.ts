import { hash } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import type { KeyStore } from '../keys/keystore.js';
import { SID_PATTERN, type Session } from '../store/index.js';

/** Longer than any token agent-sts signs; anything longer is not ours and costs no parsing. */
export const MAX_TOKEN_LENGTH = 4_096;

/** What the store keeps instead of the token: SHA-256, base64url. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** RFC 9068 JWT access token for a session (one audience, `sid`, and `act` when there is an actor). */
export async function signAccessToken(keys: KeyStore, issuer: string, s: Omit<Session, 'tokenHash'>): Promise<string> {
  const { kid, alg, key } = keys.current();
  const claims: Record<string, unknown> = {
    client_id: s.agent,
    scope: s.scope.join(' '),
    sid: s.sid,
  };
  if (s.act) claims.act = s.act;
  return new SignJWT(claims)
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setSubject(s.sub)
    .setAudience(s.aud)
    .setIssuedAt(s.iat)
    .setExpirationTime(s.exp)
    .setJti(s.jti)
    .sign(key);
}

/**
 * The session id an agent-sts token names, read without verifying: the store then compares the
 * token's hash with the one it kept, which only a token we issued can match.
 */
export function readTokenSid(token: string, issuer: string): string | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  try {
    const { iss, sid } = decodeJwt(token);
    return iss === issuer && typeof sid === 'string' && SID_PATTERN.test(sid) ? sid : undefined;
  } catch {
    return undefined;
  }
}

/** Issuer a JWT names, unverified: only to pick which trusted issuer's keys verify it. */
export function readIssuer(token: string): string | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
