import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { accessTokenHash } from '../../src/rs/dpop.js';

/** A DPoP key pair as a client holds it: the private key signs, the public JWK goes in the header. */
export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** The access token whose hash goes in `ath`. */
  token?: string;
  /** Seconds since the epoch (default: now). */
  iat?: number;
  /** Claims merged last; a value of undefined removes the claim. */
  claims?: Record<string, unknown>;
  /** Header members merged over { alg, typ: 'dpop+jwt', jwk }; undefined removes one. */
  header?: Record<string, unknown>;
}

const drop = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** A DPoP proof signed by jose (the header may be bent, the signature is always real). */
export function proof(key: DpopKey, o: ProofOptions = {}): Promise<string> {
  const payload = drop({
    jti: randomUUID(), htm: o.htm ?? 'GET', htu: o.htu ?? 'https://api.example.com/invoices',
    iat: o.iat ?? Math.floor(Date.now() / 1000), ...(o.token ? { ath: accessTokenHash(o.token) } : {}), ...o.claims,
  });
  const header = drop({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...o.header });
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** A JWS-shaped string with any header and no valid signature: for algorithms jose will not sign with. */
export function unsignedProof(header: Record<string, unknown>, payload: Record<string, unknown> = {}): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64(header)}.${b64(payload)}.${Buffer.from('not-a-signature').toString('base64url')}`;
}
