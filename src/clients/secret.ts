import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Agent secrets are machine-made and high-entropy, so a salted SHA-256 compared in constant time is
 * enough; a slow password hash on every token request would cap throughput for no gain.
 * Stored form: `sha256$<salt, base64url>$<digest, base64url>`.
 */
export const MIN_SECRET_LENGTH = 32;
const SALT_BYTES = 16;
const NEW_SECRET_BYTES = 32;

function digest(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret, 'utf8').digest();
}

export function hashSecret(secret: string): string {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`secret must be at least ${MIN_SECRET_LENGTH} characters (use: npm run --silent new-secret)`);
  }
  const salt = randomBytes(SALT_BYTES);
  return `sha256$${salt.toString('base64url')}$${digest(salt, secret).toString('base64url')}`;
}

export function newSecret(): string {
  return randomBytes(NEW_SECRET_BYTES).toString('base64url');
}

export const SECRET_HASH_PATTERN = /^sha256\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{43}$/;

/** Compared on fixed-length digests, so neither length nor content leaks through timing. */
export function verifySecret(presented: string, stored: string): boolean {
  const [, salt = '', expected = ''] = stored.split('$');
  const want = Buffer.from(expected, 'base64url');
  const got = digest(Buffer.from(salt, 'base64url'), presented);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Entries a VerifiedSecrets keeps at most; when full it starts over (the next requests refill it). */
export const VERIFIED_SECRETS_MAX = 10_000;

/**
 * Secrets that matched, remembered by SHA-256 of client id and secret (never the secret itself)
 * together with the stored hash they matched. A resource server presents the same credentials on
 * every introspection; a hit costs one SHA-256 instead of the salted hash of verifySecret. A secret
 * changed in the registry has a new stored hash, so its old entry no longer matches. Misses do the
 * full work, so unknown client and wrong secret still cost the same.
 */
export class VerifiedSecrets {
  readonly #matched = new Map<string, string>();
  #unknownClientHash: string | undefined;

  /** Compared against when the client is unknown, so unknown and wrong-secret take the same time. */
  get unknownClientHash(): string {
    return (this.#unknownClientHash ??= hashSecret(newSecret()));
  }

  /**
   * `stored` undefined (an unknown client): the same work against a hash of a secret nobody holds,
   * so it fails after the cost of a wrong secret.
   */
  verify(clientId: string, presented: string, stored: string | undefined): boolean {
    const against = stored ?? this.unknownClientHash;
    const key = hash('sha256', `${clientId}\0${presented}`, 'base64url');
    if (this.#matched.get(key) === against) return true;
    if (!verifySecret(presented, against)) return false;
    if (this.#matched.size >= VERIFIED_SECRETS_MAX) this.#matched.clear();
    this.#matched.set(key, against);
    return true;
  }
}
