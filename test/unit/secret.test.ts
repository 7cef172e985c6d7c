import { describe, expect, it } from '@jest/globals';
import {
  hashSecret, MIN_SECRET_LENGTH, newSecret, SECRET_HASH_PATTERN, VERIFIED_SECRETS_MAX, VerifiedSecrets, verifySecret,
} from '../../src/clients/secret.js';

const SECRET = 'a-machine-made-secret-0123456789abcdef';

describe('hashSecret / verifySecret', () => {
  it('round-trips: the secret verifies against its hash', () => {
    const stored = hashSecret(SECRET);
    expect(stored).toMatch(SECRET_HASH_PATTERN);
    expect(stored.startsWith('sha256$')).toBe(true);
    expect(stored).not.toContain(SECRET);
    expect(verifySecret(SECRET, stored)).toBe(true);
  });

  it('is salted: two hashes of one secret differ and both verify', () => {
    const h1 = hashSecret(SECRET);
    const h2 = hashSecret(SECRET);
    expect(h1).not.toBe(h2);
    expect(verifySecret(SECRET, h1)).toBe(true);
    expect(verifySecret(SECRET, h2)).toBe(true);
  });

  it('a wrong secret does not verify: other secret, one character off, prefix, extension, empty', () => {
    const stored = hashSecret(SECRET);
    for (const wrong of ['another-machine-made-secret-0123456789', `${SECRET.slice(0, -1)}X`, SECRET.slice(0, -1), `${SECRET}x`, '']) {
      expect(verifySecret(wrong, stored)).toBe(false);
    }
  });

  it(`refuses secrets shorter than ${MIN_SECRET_LENGTH} characters`, () => {
    expect(MIN_SECRET_LENGTH).toBe(32);
    expect(() => hashSecret('x'.repeat(31))).toThrow(/at least 32/);
    expect(() => hashSecret('')).toThrow(/at least 32/);
    expect(verifySecret('x'.repeat(32), hashSecret('x'.repeat(32)))).toBe(true);
  });

  it('a malformed stored hash returns false, never throws', () => {
    const good = hashSecret(SECRET);
    const [, salt, digest] = good.split('$') as [string, string, string];
    const flipped = `${digest.slice(0, -2)}${digest.at(-2) === 'A' ? 'B' : 'A'}${digest.at(-1)}`;
    const malformed = [
      '',
      'garbage',
      'sha256',
      'sha256$',
      'sha256$$',
      `sha256$${salt}`,
      `sha256$${salt}$`,
      `sha256$${salt}$${digest.slice(0, 20)}`,
      `sha256$${salt}$${digest}${digest}`,
      `sha256$${salt}$${flipped}`,
      `sha256$$${digest}`,
      '$$$$',
      `sha256$${salt}$!!!not base64!!!`,
    ];
    for (const stored of malformed) {
      expect(() => verifySecret(SECRET, stored)).not.toThrow();
      expect(verifySecret(SECRET, stored)).toBe(false);
    }
  });
});

describe('newSecret', () => {
  it('makes long, distinct secrets that hash and verify', () => {
    const a = newSecret();
    const b = newSecret();
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(MIN_SECRET_LENGTH);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(verifySecret(a, hashSecret(a))).toBe(true);
  });

  it('nothing verifies against the unknown-client placeholder hash', () => {
    const UNKNOWN_CLIENT_HASH = new VerifiedSecrets().unknownClientHash;
    expect(UNKNOWN_CLIENT_HASH).toMatch(SECRET_HASH_PATTERN);
    expect(verifySecret(SECRET, UNKNOWN_CLIENT_HASH)).toBe(false);
    expect(verifySecret('', UNKNOWN_CLIENT_HASH)).toBe(false);
  });
});

describe('VerifiedSecrets: remembering a match never widens what verifies', () => {
  it('the right secret verifies, again and again; wrong ones never, before or after it was remembered', () => {
    const cache = new VerifiedSecrets();
    const stored = hashSecret(SECRET);
    expect(cache.verify('agent', `${SECRET}x`, stored)).toBe(false);
    for (let i = 0; i < 3; i++) expect(cache.verify('agent', SECRET, stored)).toBe(true);
    for (const wrong of [`${SECRET.slice(0, -1)}X`, SECRET.slice(0, -1), '']) expect(cache.verify('agent', wrong, stored)).toBe(false);
  });

  it('a secret changed in the registry: the old one stops verifying at once, the new one verifies', () => {
    const cache = new VerifiedSecrets();
    const rotated = 'the-rotated-machine-made-secret-9876543210';
    expect(cache.verify('agent', SECRET, hashSecret(SECRET))).toBe(true);
    const newStored = hashSecret(rotated);
    expect(cache.verify('agent', SECRET, newStored)).toBe(false);
    expect(cache.verify('agent', rotated, newStored)).toBe(true);
  });

  it('never matches the unknown-client hash', () => {
    const cache = new VerifiedSecrets();
    expect(cache.verify('nobody', SECRET, cache.unknownClientHash)).toBe(false);
    expect(cache.verify('nobody', SECRET, cache.unknownClientHash)).toBe(false);
    expect(cache.verify('nobody', SECRET, undefined)).toBe(false);
    expect(cache.verify('nobody', SECRET, undefined)).toBe(false);
  });

  it('each instance has its own unknown-client hash, made once', () => {
    const a = new VerifiedSecrets();
    const b = new VerifiedSecrets();
    expect(a.unknownClientHash).toBe(a.unknownClientHash);
    expect(a.unknownClientHash).not.toBe(b.unknownClientHash);
  });

  it(`stays right past ${VERIFIED_SECRETS_MAX} remembered secrets (it starts over)`, () => {
    const cache = new VerifiedSecrets();
    const stored = hashSecret(SECRET);
    for (let i = 0; i <= VERIFIED_SECRETS_MAX; i++) expect(cache.verify(`agent-${i}`, SECRET, stored)).toBe(true);
    expect(cache.verify('agent-0', SECRET, stored)).toBe(true);
    expect(cache.verify('agent-0', `${SECRET}x`, stored)).toBe(false);
  });
});
