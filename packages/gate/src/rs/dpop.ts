/**
 * RFC 9449 (DPoP) proofs, checked fully: for resource servers (`dpopVerifier`) and for agent-sts's
 * own token endpoint (`verifyProof`, with the store's replay set). Imports only protocol/, jose and
 * node built-ins, so the resource-server packages can ship it.
 */
import { hash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import {
  accessTokenHash, DPOP_PROOF_FUTURE_LEEWAY_SECONDS, DPOP_PROOF_MAX_AGE_SECONDS, DPOP_PROOF_TYP, DPOP_SIGNING_ALGORITHMS,
  MAX_DPOP_JTI_LENGTH, MAX_DPOP_PROOF_LENGTH,
} from '../protocol/dpop.js';

export type DpopOutcome = { ok: true } | { ok: false; error: 'invalid_token' | 'invalid_dpop_proof'; description: string };

export interface DpopCheck {
  /** The Authorization scheme the request used (case-insensitive in the header). */
  scheme: 'bearer' | 'dpop';
  /** The single DPoP header value; undefined when absent (more than one: the caller refuses first). */
  proof: string | undefined;
  /** The request's HTTP method. */
  method: string;
  /** The absolute request URL as this resource server sees it. */
  url: string;
  accessToken: string;
  /** The token's cnf.jkt, from introspection or the verified JWT. */
  jkt: string | undefined;
}

/** Single-use proof ids: the first caller of a key wins until `expiresAtMs`; a store failure rejects. */
export interface DpopReplayCache {
  useOnce(key: string, expiresAtMs: number): Promise<boolean>;
}

export interface DpopVerifier {
  check(c: DpopCheck): Promise<DpopOutcome>;
}

/** What a request expects of its proof. */
export interface ProofExpectations {
  method: string;
  /** The absolute URL the request was made to; query and fragment are ignored. */
  url: string;
  /** The access token presented with the proof (resource servers): `ath` must be its hash. */
  accessToken?: string;
  nowMs: number;
}

/** A proof whose signature, claims and time held: its key's thumbprint, its id and its time. */
export interface VerifiedProof {
  jkt: string;
  jti: string;
  iat: number;
}

/** A proof that fails a check; `description` is safe to send (it names the check, never echoes the proof). */
export class DpopProofError extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'DpopProofError';
  }
}

/** RFC 7517 private (and symmetric) key members: a proof's key must carry none of them. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const PUBLIC_KEY_TYPES = new Set(['EC', 'OKP', 'RSA']);
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** RFC 3986 §6.2.2.2: percent-encoded unreserved characters are decoded, every other triplet upper-cased. */
const normalisePercent = (s: string) =>
  s.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });

/**
 * An http(s) URL reduced to what `htu` is compared on (RFC 9449 §4.3): scheme, host (with a
 * non-default port) and path, normalised; query and fragment dropped. undefined when not one.
 */
export function htuOf(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  return `${u.protocol}//${u.host}${normalisePercent(u.pathname)}`;
}

/** The public key of a proof's `jwk`, imported, and its RFC 7638 thumbprint. */
export interface ProofKey {
  key: CryptoKey;
  jkt: string;
}

/**
 * Imports a proof's key. An agent signs every proof with the same key, and importing it costs
 * about as much as verifying the signature, so the cache keeps recent keys (bounded).
 */
export interface ProofKeyCache {
  get(alg: string, jwk: JWK): Promise<ProofKey>;
}

/** Default capacity: distinct proof keys (agents) remembered per process. */
export const DEFAULT_PROOF_KEY_CACHE_ENTRIES = 1_000;

async function importProofKey(alg: string, jwk: JWK): Promise<ProofKey> {
  let key: CryptoKey;
  let jkt: string;
  try {
    key = (await importJWK(jwk, alg)) as CryptoKey;
    jkt = await calculateJwkThumbprint(jwk, 'sha256');
  } catch {
    throw new DpopProofError("the DPoP proof's jwk is unusable");
  }
  if (key.type !== 'public') throw new DpopProofError("the DPoP proof's jwk must be a public asymmetric key");
  return { key, jkt };
}

/** A bounded cache of imported proof keys by (alg, jwk): the oldest entry goes when it is full. */
export function proofKeyCache(maxEntries = DEFAULT_PROOF_KEY_CACHE_ENTRIES): ProofKeyCache {
  const keys = new Map<string, ProofKey>();
  return {
    async get(alg, jwk) {
      const id = `${alg}\0${JSON.stringify(jwk)}`;
      const hit = keys.get(id);
      if (hit) return hit;
      const imported = await importProofKey(alg, jwk);
      if (keys.size >= maxEntries) keys.delete(keys.keys().next().value!);
      keys.set(id, imported);
      return imported;
    },
  };
}

function checkHeader(proof: string): { alg: string; jwk: JWK } {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw new DpopProofError('the DPoP proof is not a JWS');
  }
  if (header.typ !== DPOP_PROOF_TYP) throw new DpopProofError(`the DPoP proof's typ must be ${DPOP_PROOF_TYP}`);
  if (typeof header.alg !== 'string' || !DPOP_SIGNING_ALGORITHMS.includes(header.alg)) {
    throw new DpopProofError('the DPoP proof must be signed with an asymmetric algorithm');
  }
  const jwk: unknown = header.jwk;
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) throw new DpopProofError('the DPoP proof must carry its public key in jwk');
  const key = jwk as JWK;
  if (typeof key.kty !== 'string' || !PUBLIC_KEY_TYPES.has(key.kty) || PRIVATE_MEMBERS.some((m) => Object.hasOwn(key, m))) {
    throw new DpopProofError("the DPoP proof's jwk must be a public asymmetric key");
  }
  if (key.use !== undefined && key.use !== 'sig') throw new DpopProofError("the DPoP proof's jwk must be a signing key");
  if (key.alg !== undefined && key.alg !== header.alg) throw new DpopProofError("the DPoP proof's jwk is for another algorithm");
  return { alg: header.alg, jwk: key };
}

async function verifiedPayload(proof: string, key: CryptoKey, nowMs: number): Promise<Record<string, unknown>> {
  try {
    const options = { algorithms: [...DPOP_SIGNING_ALGORITHMS], typ: DPOP_PROOF_TYP, currentDate: new Date(nowMs) };
    return (await jwtVerify(proof, key, options)).payload;
  } catch (err) {
    const { code, claim } = err as { code?: string; claim?: string };
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw new DpopProofError("the DPoP proof's signature does not verify with its jwk");
    if (code === 'ERR_JWT_EXPIRED') throw new DpopProofError('the DPoP proof has expired');
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw new DpopProofError(`the DPoP proof's ${claim ?? 'claims'} claim is invalid`);
    throw new DpopProofError('the DPoP proof is malformed or its jwk unusable');
  }
}

function checkClaims(p: Record<string, unknown>, expect: ProofExpectations): { jti: string; iat: number } {
  const { jti, htm, htu, iat } = p;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_DPOP_JTI_LENGTH) throw new DpopProofError('the DPoP proof needs a jti string');
  if (htm !== expect.method) throw new DpopProofError("the DPoP proof's htm is not this request's method");
  const expected = htuOf(expect.url);
  if (typeof htu !== 'string' || expected === undefined || htuOf(htu) !== expected) throw new DpopProofError("the DPoP proof's htu is not this request's URL");
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopProofError('the DPoP proof needs a numeric iat');
  const nowS = expect.nowMs / 1000;
  if (iat < nowS - DPOP_PROOF_MAX_AGE_SECONDS) throw new DpopProofError('the DPoP proof is too old');
  if (iat > nowS + DPOP_PROOF_FUTURE_LEEWAY_SECONDS) throw new DpopProofError('the DPoP proof is issued in the future');
  // Server nonces are not offered (RFC 9449 §8 is optional): a nonce we never issued cannot be right.
  if (p.nonce !== undefined) throw new DpopProofError('DPoP nonces are not supported here');
  if (expect.accessToken !== undefined && p.ath !== accessTokenHash(expect.accessToken)) {
    throw new DpopProofError("the DPoP proof's ath is not the hash of the access token");
  }
  return { jti, iat };
}

/**
 * Every check of RFC 9449 §4.3 but single use (see `useProofOnce`): typ, asymmetric alg, public
 * jwk only, signature, htm, htu, iat window, ath when a token is presented. Throws DpopProofError.
 * Without `keys`, the proof's key is imported afresh.
 */
export async function verifyProof(proof: string, expect: ProofExpectations, keys?: ProofKeyCache): Promise<VerifiedProof> {
  if (proof.length > MAX_DPOP_PROOF_LENGTH) throw new DpopProofError('the DPoP proof is too long');
  const { alg, jwk } = checkHeader(proof);
  const { key, jkt } = keys ? await keys.get(alg, jwk) : await importProofKey(alg, jwk);
  return { jkt, ...checkClaims(await verifiedPayload(proof, key, expect.nowMs), expect) };
}

/** A proof's replay key: a digest of its key and id (RFC 9449 §11.1: jti is unique per key), bounded in length. */
export const proofReplayKey = (p: VerifiedProof) => hash('sha256', `dpop\0${p.jkt}\0${p.jti}`, 'base64url');

/** Past this, the iat check refuses the proof anyway: its replay entry can go. */
export const proofExpiresAtMs = (p: VerifiedProof) => Math.ceil((p.iat + DPOP_PROOF_MAX_AGE_SECONDS) * 1000) + 1;

/** True the first time a proof is seen; false for a replay. */
export const useProofOnce = (replay: DpopReplayCache, p: VerifiedProof) => replay.useOnce(proofReplayKey(p), proofExpiresAtMs(p));

const OK: DpopOutcome = { ok: true };
const refuse = (error: 'invalid_token' | 'invalid_dpop_proof', description: string): DpopOutcome => ({ ok: false, error, description });

/**
 * The resource server's DPoP decision for a token it has already found active. A bound token needs
 * the DPoP scheme and a valid, fresh, unused proof by its key; an unbound token needs Bearer (a
 * DPoP header beside an unbound Bearer token is ignored, RFC 6750 applies). A replay-cache failure
 * rejects: answer 503, never let it through.
 */
export function dpopVerifier(opts: { replay?: DpopReplayCache; nowMs?: () => number; keys?: ProofKeyCache } = {}): DpopVerifier {
  const keys = opts.keys ?? proofKeyCache();
  const nowMs = opts.nowMs ?? Date.now;
  const replay = opts.replay ?? memoryReplayCache(DEFAULT_REPLAY_CACHE_ENTRIES, nowMs);
  return {
    async check(c) {
      if (c.scheme === 'bearer') return c.jkt === undefined ? OK : refuse('invalid_token', 'the token is DPoP-bound: send it with the DPoP scheme and a proof');
      if (c.jkt === undefined) return refuse('invalid_token', 'the token is not DPoP-bound: send it with the Bearer scheme');
      if (c.proof === undefined) return refuse('invalid_dpop_proof', 'a DPoP-bound token needs a DPoP proof');
      let proof: VerifiedProof;
      try {
        proof = await verifyProof(c.proof, { method: c.method, url: c.url, accessToken: c.accessToken, nowMs: nowMs() }, keys);
      } catch (err) {
        if (err instanceof DpopProofError) return refuse('invalid_dpop_proof', err.description);
        throw err;
      }
      if (proof.jkt !== c.jkt) return refuse('invalid_token', "the DPoP proof's key is not the key the token is bound to");
      if (!(await useProofOnce(replay, proof))) return refuse('invalid_dpop_proof', 'the DPoP proof was already used');
      return OK;
    },
  };
}

/** Default capacity: a proof lives at most 70 s here, so this admits about 1,400 proofs/s per process. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 100_000;

/**
 * A bounded in-process replay cache, for a single resource-server process. Full of live entries,
 * it refuses new proofs rather than forget a live one (fail closed): use Redis beyond that.
 */
export function memoryReplayCache(maxEntries = DEFAULT_REPLAY_CACHE_ENTRIES, nowMs: () => number = Date.now): DpopReplayCache {
  const used = new Map<string, number>();
  return {
    async useOnce(key, expiresAtMs) {
      const now = nowMs();
      // Every entry expires within the proof window of its insertion, so the oldest go first:
      // dropping expired entries from the front keeps each call O(1) amortised.
      for (const [k, until] of used) {
        if (until > now) break;
        used.delete(k);
      }
      const until = used.get(key);
      if (until !== undefined && until > now) return false;
      if (used.size >= maxEntries) return false;
      used.set(key, expiresAtMs);
      return true;
    },
  };
}

/** The one Redis command the replay cache needs; ioredis and node-redis-style clients fit. */
export interface ReplayRedisClient {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<unknown>;
}

/** A replay cache shared by every resource-server process: one `SET key 1 PX ttl NX` per proof. */
export function redisReplayCache(client: ReplayRedisClient, opts: { prefix?: string; nowMs?: () => number } = {}): DpopReplayCache {
  const prefix = opts.prefix ?? 'dpop:';
  const nowMs = opts.nowMs ?? Date.now;
  return {
    async useOnce(key, expiresAtMs) {
      return (await client.set(prefix + key, '1', 'PX', Math.max(1, expiresAtMs - nowMs()), 'NX')) === 'OK';
    },
  };
}
