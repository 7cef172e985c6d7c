import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { listen, type Listening } from './http.js';

/**
 * An enterprise IdP stand-in for ID-JAG tests: its own ES256 key, its JWKS served on a loopback
 * port, and ID-JAGs (draft-ietf-oauth-identity-assertion-authz-grant §3) signed with jose, as the
 * IdP would return them from its token exchange. Every claim and header member can be overridden
 * (or removed with `undefined`) to build each kind of bad assertion.
 */
export interface IdJagIdp {
  issuer: string;
  jwksUri: string;
  jwks: { keys: (JWK & { kty: string })[] };
  /** An ID-JAG for `sub`, issued to `client_id`, for `aud` (agent-sts's issuer). */
  idJag(claims: IdJagClaims, header?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export type IdJagClaims = { aud: string | string[]; client_id: string; sub?: string; resource?: string | string[]; scope?: string; lifetimeSeconds?: number; iat?: number } & Record<string, unknown>;

export async function startIdJagIdp(): Promise<IdJagIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `idjag-${randomUUID().slice(0, 8)}`;
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kty: 'EC', kid, alg: 'ES256', use: 'sig' }] };
  const http: Listening = await listen((req, res) => {
    if (req.url === '/jwks') res.setHeader('content-type', 'application/json').end(JSON.stringify(jwks));
    else res.writeHead(404).end();
  });
  const issuer = http.url;
  return { issuer, jwksUri: `${issuer}/jwks`, jwks, idJag: (claims, header) => sign(privateKey, kid, issuer, claims, header), close: () => http.close() };
}

async function sign(key: CryptoKey, kid: string, iss: string, claims: IdJagClaims, header: Record<string, unknown> = {}): Promise<string> {
  const { lifetimeSeconds = 300, iat = Math.floor(Date.now() / 1000), ...rest } = claims;
  const payload: JWTPayload = {
    iss, sub: 'alice', jti: randomUUID(), iat, exp: iat + lifetimeSeconds, resource: 'https://api.example.com', scope: 'invoices:read invoices:write', ...rest,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  const protectedHeader = { alg: 'ES256', kid, typ: 'oauth-id-jag+jwt', ...header };
  for (const [k, v] of Object.entries(protectedHeader)) if (v === undefined) delete (protectedHeader as Record<string, unknown>)[k];
  return new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key);
}
