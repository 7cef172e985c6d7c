import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { DPOP_PROOF_TYP } from '../protocol/dpop.js';
import { accessTokenHash } from '../rs/dpop.js';

const PROOF_ALG = 'ES256';
const MS_PER_SECOND = 1_000;

/**
 * One CLI run's DPoP key (RFC 9449): an ES256 pair made for the run, its private half not
 * extractable and never written anywhere, so the admin token it binds is worth nothing outside
 * this process. Every request gets a fresh proof for its method and URL.
 */
export class DpopSigner {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly jwk: JWK,
  ) {}

  static async create(): Promise<DpopSigner> {
    const { privateKey, publicKey } = await generateKeyPair(PROOF_ALG, { extractable: false });
    const { kty, crv, x, y } = await exportJWK(publicKey);
    return new DpopSigner(privateKey, { kty, crv, x, y });
  }

  /**
   * A proof for `method` on `url` (query dropped, RFC 9449 §4.2), with `ath` when it goes with an
   * access token. `iat` is this machine's clock: the server allows 60 s behind, 10 s ahead.
   */
  proof(method: string, url: string, accessToken?: string): Promise<string> {
    const u = new URL(url);
    const claims = {
      jti: randomUUID(), htm: method, htu: `${u.origin}${u.pathname}`, iat: Math.floor(Date.now() / MS_PER_SECOND),
      ...(accessToken !== undefined ? { ath: accessTokenHash(accessToken) } : {}),
    };
    return new SignJWT(claims).setProtectedHeader({ alg: PROOF_ALG, typ: DPOP_PROOF_TYP, jwk: this.jwk }).sign(this.privateKey);
  }
}
