import { hash } from 'node:crypto';
import { ACCESS_TOKEN_TYP, type AccessTokenClaims, MAX_TOKEN_LENGTH } from 'agent-sts-gate/protocol';
import { signCompact, type KeyStore } from '../keys/keystore.js';
import { SID_PATTERN, type Session } from '../store/index.js';

/** What the store keeps instead of the token: SHA-256, base64url. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** RFC 9068 JWT access token for a session (one audience, `sid`, and `act` when there is an actor). */
export function signAccessToken(keys: KeyStore, issuer: string, s: Omit<Session, 'tokenHash'>): string {
  const claims: AccessTokenClaims = {
    iss: issuer,
    sub: s.sub,
    aud: s.aud,
    client_id: s.agent,
    scope: s.scope.join(' '),
    iat: s.iat,
    exp: s.exp,
    jti: s.jti,
    sid: s.sid,
  };
  if (s.act) claims.act = s.act;
  if (s.cnf) claims.cnf = s.cnf;
  return signCompact(keys.current(), { typ: ACCESS_TOKEN_TYP }, claims);
}

/**
 * The claims of a compact JWS, unverified: base64url and JSON only, no header parsing and no
 * signature work. undefined for anything that is not three base64url segments with a JSON object.
 */
function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first < 1 || second < 0 || token.indexOf('.', second + 1) >= 0 || second === token.length - 1) return undefined;
  const payload = token.slice(first + 1, second);
  if (!BASE64URL.test(payload)) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The session id an agent-sts token names, read without verifying: the store then compares the
 * token's hash with the one it kept, which only a token we issued can match.
 */
export function readTokenSid(token: string, issuer: string): string | undefined {
  const claims = unverifiedClaims(token);
  const sid = claims?.sid;
  return claims?.iss === issuer && typeof sid === 'string' && SID_PATTERN.test(sid) ? sid : undefined;
}

/** Issuer a JWT names, unverified: only to pick which trusted issuer's keys verify it. */
export function readIssuer(token: string): string | undefined {
  const iss = unverifiedClaims(token)?.iss;
  return typeof iss === 'string' ? iss : undefined;
}
