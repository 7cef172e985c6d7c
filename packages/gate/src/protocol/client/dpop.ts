/**
 * The client half of RFC 9449: a proof key pair and a signer that makes one proof per request
 * (`htm`, `htu`, `iat`, a fresh `jti`, `ath` beside an access token, `nonce` when the server asked).
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { systemClock, type Clock } from '../clock.js';
import { accessTokenHash, DPOP_PROOF_TYP } from '../dpop.js';
import { MS_PER_EXP_UNIT } from '../expiry.js';

/** A proof key as a client holds it: the private half signs, the public JWK rides in every proof's header. */
export interface DpopKeyPair {
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public members only (what `jwk` carries). */
  jwk: JWK;
  /** Its RFC 7638 SHA-256 thumbprint: the `cnf.jkt` a bound token carries. */
  jkt: string;
}

export const DEFAULT_DPOP_ALG = 'ES256';

/** A fresh key pair; by default its private half cannot be exported, so a token bound to it is useless elsewhere. */
export async function generateDpopKeyPair(alg = DEFAULT_DPOP_ALG, o: { extractable?: boolean } = {}): Promise<DpopKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: o.extractable ?? false });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** RFC 9449 §4.2: `htu` is the request's URI without query and fragment. */
export function htuFor(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

export interface ProofRequest {
  htm: string;
  /** Taken as given: the signer passes `htuFor(url)`. */
  htu: string;
  /** The access token the proof goes with: its hash becomes `ath`. */
  accessToken?: string;
  /** A server-provided nonce (RFC 9449 §8), from its DPoP-Nonce header. */
  nonce?: string;
}

export interface ProofClaims {
  jti: string;
  htm: string;
  htu: string;
  iat: number;
  ath?: string;
  nonce?: string;
}

/** The claims of one proof made now. */
export function dpopProofClaims(r: ProofRequest, clock: Clock = systemClock): ProofClaims {
  return {
    jti: randomUUID(), htm: r.htm, htu: r.htu, iat: Math.floor(clock.nowMs() / MS_PER_EXP_UNIT),
    ...(r.accessToken !== undefined ? { ath: accessTokenHash(r.accessToken) } : {}),
    ...(r.nonce !== undefined ? { nonce: r.nonce } : {}),
  };
}

/** The protected header of a proof by `key`. */
export const dpopProofHeader = (key: DpopKeyPair) => ({ alg: key.alg, typ: DPOP_PROOF_TYP, jwk: key.jwk });

export interface DpopSigner {
  readonly key: DpopKeyPair;
  /** A proof for `method` on `url` (query and fragment dropped), with `ath` when it goes with an access token. */
  proof(method: string, url: string, o?: { accessToken?: string; nonce?: string }): Promise<string>;
}

/** A signer over `key` (default: a new non-extractable ES256 pair); `iat` is read from `clock`. */
export async function dpopSigner(o: { key?: DpopKeyPair; clock?: Clock } = {}): Promise<DpopSigner> {
  const key = o.key ?? (await generateDpopKeyPair());
  const clock = o.clock ?? systemClock;
  return {
    key,
    proof(method, url, extra = {}) {
      const claims = dpopProofClaims({ htm: method, htu: htuFor(url), ...extra }, clock);
      return new SignJWT({ ...claims }).setProtectedHeader(dpopProofHeader(key)).sign(key.privateKey);
    },
  };
}
