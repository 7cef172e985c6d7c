import { createPrivateKey, randomBytes, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { ISSUER_SIGNING_ALGORITHMS, type IssuerSigningAlg } from 'agent-sts-gate/protocol';

export type SigningAlg = IssuerSigningAlg;
const SIGNING_ALGS: readonly string[] = ISSUER_SIGNING_ALGORITHMS;
/** RFC 7518 §3.3: an RS256 key has 2048 bits or more. */
export const RSA_MIN_MODULUS_BITS = 2048;
/** Past this an RSA signature costs several milliseconds and eats the headroom under MAX_TOKEN_LENGTH. */
export const RSA_MAX_MODULUS_BITS = 4096;
/** Public members a JWKS may show; anything else (d, p, q, …) stays on disk. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

/** A private JWK as stored in the keys dir; `iat` (seconds) orders keys, newest signs. */
export type StoredKey = JWK & { kid: string; alg: SigningAlg; iat: number };

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  /** The JWS signature of `input` (raw r||s for ES256, as JWS wants it; PKCS#1 v1.5 for RS256). */
  sign(input: Buffer): Buffer;
  /** `header` with this key's alg and kid, JSON and base64url: cached, the same few for every token. */
  encodedHeader(header: Record<string, unknown>): string;
}

export interface KeyStore {
  /** The newest key: every new token is signed with it. */
  current(): SigningKey;
  /** Every key's public half: published so tokens signed by older keys still verify. */
  jwks(): { keys: JWK[] };
}

export function publicJwk(k: JWK): JWK {
  const out: Record<string, unknown> = {};
  for (const m of PUBLIC_MEMBERS) if (k[m] !== undefined) out[m] = k[m];
  return { ...out, use: 'sig' } as JWK;
}

const GENERATE_OPTIONS: Record<SigningAlg, { crv?: string; modulusLength?: number }> = {
  ES256: {}, EdDSA: { crv: 'Ed25519' }, RS256: { modulusLength: RSA_MIN_MODULUS_BITS },
};

export async function generateKey(alg: SigningAlg = 'ES256', nowMs = Date.now()): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...GENERATE_OPTIONS[alg] });
  const jwk = await exportJWK(privateKey);
  const iat = Math.floor(nowMs / 1000);
  // Microseconds since the epoch, base36: 10 characters until the year 5188, so kids sort by age.
  const createdUs = Math.round(nowMs * 1000 + (performance.now() % 1) * 1000);
  return { ...jwk, kid: `${createdUs.toString(36)}-${randomBytes(6).toString('base64url')}`, alg, use: 'sig', iat };
}

/** Writes a new key file (owner-only permissions) and returns it. */
export async function addKey(dir: string, alg: SigningAlg = 'ES256'): Promise<StoredKey> {
  const key = await generateKey(alg);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${key.kid}.jwk.json`), `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/**
 * A key file or folder this process may not read: which user it runs as and who owns the file,
 * since the usual cause is keys written (mode 0600) by the host's user and mounted into a
 * container running as another (the image's `node`, uid 1000).
 */
async function unreadable(p: string, err: NodeJS.ErrnoException): Promise<Error> {
  if (err.code !== 'EACCES' && err.code !== 'EPERM') return err;
  const owner = await stat(p).then((s) => `uid ${s.uid}, mode ${(s.mode & 0o777).toString(8)}`, () => 'owner unknown');
  const me = process.getuid ? `uid ${process.getuid()}` : 'this user';
  return new Error(`${p} is not readable by ${me} (${owner}): chown the keys to the user agent-sts runs as (uid 1000 in the Docker image), or generate them as that user`);
}

export async function readKeys(dir: string): Promise<StoredKey[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.jwk.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw await unreadable(dir, err as NodeJS.ErrnoException);
  }
  const keys: StoredKey[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const text = await readFile(file, 'utf8').catch(async (err: NodeJS.ErrnoException) => {
      throw await unreadable(file, err);
    });
    const k = JSON.parse(text) as StoredKey;
    if (!k.d || !k.kid || !SIGNING_ALGS.includes(k.alg) || typeof k.iat !== 'number') {
      throw new Error(`${file}: not a private ${SIGNING_ALGS.join('/')} JWK with kid, alg and iat`);
    }
    const problem = keyProblem(k);
    if (problem) throw new Error(`${file}: ${problem}`);
    keys.push(k);
  }
  // iat is in whole seconds; within one second the kid, which starts with the creation time in µs, decides.
  return keys.sort((a, b) => b.iat - a.iat || b.kid.localeCompare(a.kid));
}

function importKey(k: StoredKey): KeyObject {
  return createPrivateKey({ key: k as JsonWebKey, format: 'jwk' });
}

/** Why a key cannot sign under its `alg` (its type, curve or size), or undefined when it can. */
function keyProblem(k: StoredKey): string | undefined {
  let key: KeyObject;
  try {
    key = importKey(k);
  } catch {
    return `not a usable private ${k.alg} key`;
  }
  const type = key.asymmetricKeyType;
  if (k.alg === 'ES256' && (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) return 'an ES256 key must be EC on P-256';
  if (k.alg === 'EdDSA' && type !== 'ed25519' && type !== 'ed448') return 'an EdDSA key must be OKP (Ed25519 or Ed448)';
  if (k.alg === 'RS256') {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (type !== 'rsa' || bits === undefined) return 'an RS256 key must be RSA';
    if (bits < RSA_MIN_MODULUS_BITS || bits > RSA_MAX_MODULUS_BITS) {
      return `an RS256 key must have ${RSA_MIN_MODULUS_BITS} to ${RSA_MAX_MODULUS_BITS} bits; this one has ${bits}`;
    }
  }
  return undefined;
}

export function keyStoreFrom(stored: StoredKey[]): KeyStore {
  if (stored.length === 0) throw new Error('no signing keys');
  const newest = stored[0]!;
  // node:crypto signs synchronously on the calling thread: ~3x jose's WebCrypto path on this hot path.
  const key = importKey(newest);
  const signers: Record<SigningAlg, (input: Buffer) => Buffer> = {
    ES256: (input) => cryptoSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }),
    EdDSA: (input) => cryptoSign(null, input, key),
    // an RSA key's default padding is PKCS#1 v1.5: RS256 (RFC 7518 §3.3)
    RS256: (input) => cryptoSign('sha256', input, key),
  };
  const sign = signers[newest.alg];
  // Owned by this key store's signing key: two key stores (two apps in one process) share nothing.
  const encodedHeaders = new Map<string, string>();
  const encodedHeader = (header: Record<string, unknown>): string => {
    const json = JSON.stringify(header);
    let encoded = encodedHeaders.get(json);
    if (encoded === undefined) {
      encoded = Buffer.from(JSON.stringify({ ...header, alg: newest.alg, kid: newest.kid })).toString('base64url');
      encodedHeaders.set(json, encoded);
    }
    return encoded;
  };
  const signing: SigningKey = { kid: newest.kid, alg: newest.alg, sign, encodedHeader };
  const published = Object.freeze({ keys: stored.map(publicJwk) });
  return { current: () => signing, jwks: () => published };
}

export interface ReloadableKeyStore extends KeyStore {
  /** Re-reads the keys dir (SIGHUP, after `npm run keys:rotate`); keeps the old set on failure. */
  reload(): Promise<void>;
}

export async function loadKeyStore(dir: string): Promise<ReloadableKeyStore> {
  let active = keyStoreFrom(await readKeys(dir));
  return {
    current: () => active.current(),
    jwks: () => active.jwks(),
    reload: async () => {
      active = keyStoreFrom(await readKeys(dir));
    },
  };
}

/** A compact JWS (RFC 7515 §7.1) of `payload`, signed with the current key. */
export function signCompact(key: SigningKey, header: Record<string, unknown>, payload: object): string {
  const input = `${key.encodedHeader(header)}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  // The signing input is base64url and '.', so latin1 encodes it byte for byte without a UTF-8 pass.
  return `${input}.${key.sign(Buffer.from(input, 'latin1')).toString('base64url')}`;
}
