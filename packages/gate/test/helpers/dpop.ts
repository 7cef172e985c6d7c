import { SignJWT } from 'jose';
import { dpopProofClaims, dpopProofHeader, generateDpopKeyPair, type DpopKeyPair } from '../../src/protocol/client/dpop.js';

/** A DPoP key pair as a client holds it (the kit's): the private key signs, the public JWK goes in the header. */
export type DpopKey = DpopKeyPair;

export const dpopKey = (alg = 'ES256'): Promise<DpopKey> => generateDpopKeyPair(alg, { extractable: true });

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

/** A DPoP proof as the kit's signer makes it, then bent (the header may be bent, the signature is always real). */
export function proof(key: DpopKey, o: ProofOptions = {}): Promise<string> {
  const claims = dpopProofClaims({ htm: o.htm ?? 'GET', htu: o.htu ?? 'https://api.example.com/invoices', ...(o.token ? { accessToken: o.token } : {}) });
  const payload = drop({ ...claims, ...(o.iat !== undefined ? { iat: o.iat } : {}), ...o.claims });
  const header = drop({ ...dpopProofHeader(key), ...o.header });
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** A JWS-shaped string with any header and no valid signature: for algorithms jose will not sign with. */
export function unsignedProof(header: Record<string, unknown>, payload: Record<string, unknown> = {}): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64(header)}.${b64(payload)}.${Buffer.from('not-a-signature').toString('base64url')}`;
}
