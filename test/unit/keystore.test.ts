import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { addKey, generateKey, loadKeyStore, readKeys, signCompact, type KeyStore, type SigningAlg, type StoredKey } from '../../src/keys/keystore.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'agent-sts-keystore-'));
}

/** Writes a key as addKey does, with an explicit creation time so "newest" is unambiguous. */
async function writeKey(dir: string, alg: SigningAlg, nowMs: number): Promise<StoredKey> {
  const key = await generateKey(alg, nowMs);
  writeFileSync(path.join(dir, `${key.kid}.jwk.json`), JSON.stringify(key), { mode: 0o600 });
  return key;
}

async function signAndVerify(ks: KeyStore): Promise<string> {
  const jwt = signCompact(ks.current(), {}, { sub: 'x', iat: Math.floor(Date.now() / 1000) });
  const { protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(ks.jwks() as Parameters<typeof createLocalJWKSet>[0]));
  return protectedHeader.kid!;
}

describe('keystore', () => {
  it('addKey generates a private key file into the dir, readable only by its owner', async () => {
    const dir = path.join(tempDir(), 'nested', 'keys');
    const key = await addKey(dir);
    const files = await readdir(dir);
    expect(files).toEqual([`${key.kid}.jwk.json`]);
    expect(statSync(path.join(dir, files[0]!)).mode & 0o777).toBe(0o600);
    expect(key).toMatchObject({ alg: 'ES256', kty: 'EC', crv: 'P-256', use: 'sig' });
    expect(typeof key.d).toBe('string');
    const [read] = await readKeys(dir);
    expect(read).toEqual(key);
  });

  it('the newest key signs; every key is published; the jwks has no private members', async () => {
    const dir = tempDir();
    const t = Date.now();
    const older = await writeKey(dir, 'ES256', t - 3_600_000);
    const newest = await writeKey(dir, 'EdDSA', t);
    const middle = await writeKey(dir, 'ES256', t - 60_000);
    const ks = await loadKeyStore(dir);
    expect(ks.current().kid).toBe(newest.kid);
    expect(ks.current().alg).toBe('EdDSA');
    const jwks = ks.jwks();
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([older.kid, newest.kid, middle.kid].sort());
    for (const k of jwks.keys) {
      for (const m of PRIVATE_MEMBERS) expect(k).not.toHaveProperty(m);
      expect(k).not.toHaveProperty('iat');
      expect(k.use).toBe('sig');
    }
    expect(jwks.keys.find((k) => k.kid === newest.kid)).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys.find((k) => k.kid === older.kid)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(await signAndVerify(ks)).toBe(newest.kid);
  });

  it('reload picks up a newly added key: it signs, and the older key stays published', async () => {
    const dir = tempDir();
    const t = Date.now();
    const first = await writeKey(dir, 'ES256', t - 60_000);
    const ks = await loadKeyStore(dir);
    expect(ks.current().kid).toBe(first.kid);
    const second = await writeKey(dir, 'ES256', t);
    expect(ks.current().kid).toBe(first.kid); // nothing changes until reload
    await ks.reload();
    expect(ks.current().kid).toBe(second.kid);
    expect(ks.jwks().keys.map((k) => k.kid).sort()).toEqual([first.kid, second.kid].sort());
    expect(await signAndVerify(ks)).toBe(second.kid);
  });

  it('two keys added within the same second: the one written last signs (iat is in whole seconds)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sts-keys-'));
    for (let round = 0; round < 5; round++) {
      const added = await addKey(dir);
      const newest = (await readKeys(dir))[0]!;
      expect(newest.kid).toBe(added.kid);
    }
  });

  it('a failed reload keeps the previous key set', async () => {
    const dir = tempDir();
    const first = await writeKey(dir, 'ES256', Date.now());
    const ks = await loadKeyStore(dir);
    writeFileSync(path.join(dir, 'broken.jwk.json'), '{ not json');
    await expect(ks.reload()).rejects.toThrow();
    expect(ks.current().kid).toBe(first.kid);
    expect(ks.jwks().keys.map((k) => k.kid)).toEqual([first.kid]);
  });

  it('no keys: loading fails; a public-only key file is refused; other files are ignored', async () => {
    const empty = tempDir();
    await expect(loadKeyStore(empty)).rejects.toThrow('no signing keys');
    await expect(loadKeyStore(path.join(empty, 'does-not-exist'))).rejects.toThrow('no signing keys');

    const dir = tempDir();
    const key = await writeKey(dir, 'ES256', Date.now());
    writeFileSync(path.join(dir, 'README.txt'), 'not a key');
    expect((await readKeys(dir)).map((k) => k.kid)).toEqual([key.kid]);
    const publicOnly: Partial<StoredKey> = { ...key };
    delete publicOnly.d;
    writeFileSync(path.join(dir, 'public.jwk.json'), JSON.stringify(publicOnly));
    await expect(readKeys(dir)).rejects.toThrow(/not a private ES256\/EdDSA\/RS256 JWK/);
  });

  it('an RS256 key (2048 bits) signs RS256 with its kid; the JWKS shows n, e and alg RS256, no private member', async () => {
    const dir = tempDir();
    const t = Date.now();
    const older = await writeKey(dir, 'ES256', t - 60_000);
    const rsa = await writeKey(dir, 'RS256', t);
    expect(rsa).toMatchObject({ kty: 'RSA', alg: 'RS256', e: 'AQAB' });
    expect(Buffer.from(rsa.n!, 'base64url').length * 8).toBe(2048);
    const ks = await loadKeyStore(dir);
    expect(ks.current()).toMatchObject({ kid: rsa.kid, alg: 'RS256' });
    const published = ks.jwks().keys.find((k) => k.kid === rsa.kid)!;
    expect(Object.keys(published).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(published).toMatchObject({ kty: 'RSA', alg: 'RS256', n: rsa.n, e: rsa.e, use: 'sig' });
    expect(ks.jwks().keys.map((k) => k.kid).sort()).toEqual([older.kid, rsa.kid].sort());
    const jwt = signCompact(ks.current(), { typ: 'at+jwt' }, { sub: 'x' });
    const { protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(ks.jwks() as Parameters<typeof createLocalJWKSet>[0]), { algorithms: ['RS256'] });
    expect(protectedHeader).toEqual({ typ: 'at+jwt', alg: 'RS256', kid: rsa.kid });
  });

  /**
   * A private JWK of `type` written as a key file labelled `alg`. Past 4096 bits only the modulus is
   * made that long (a real key would take seconds to generate): the size is what is checked.
   */
  function writeJwk(dir: string, alg: string, type: 'rsa' | 'ec', modulusLength = 2048): string {
    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: Math.min(modulusLength, 2048) }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pair.privateKey.export({ format: 'jwk' });
    if (modulusLength > 2048) {
      const n = randomBytes(modulusLength / 8);
      n[0]! |= 0x80;
      jwk.n = n.toString('base64url');
    }
    const file = path.join(dir, `k-${alg}-${type}-${modulusLength}.jwk.json`);
    writeFileSync(file, JSON.stringify({ ...jwk, kid: 'k', alg, use: 'sig', iat: 1 }));
    return file;
  }

  it.each([
    ['RS256', 'rsa', 1024, 'an RS256 key must have 2048 to 4096 bits; this one has 1024'],
    ['RS256', 'rsa', 2040, 'an RS256 key must have 2048 to 4096 bits; this one has 2040'],
    ['RS256', 'rsa', 4104, 'an RS256 key must have 2048 to 4096 bits; this one has 4104'],
    ['RS256', 'ec', 0, 'an RS256 key must be RSA'],
    ['ES256', 'rsa', 2048, 'an ES256 key must be EC on P-256'],
    ['EdDSA', 'ec', 0, 'an EdDSA key must be OKP (Ed25519 or Ed448)'],
  ] as const)('a %s label on a %s key of %d bits is refused at load, naming the file: %s', async (alg, type, bits, message) => {
    const dir = tempDir();
    await writeKey(dir, 'ES256', Date.now());
    const file = writeJwk(dir, alg, type, bits || undefined);
    await expect(loadKeyStore(dir)).rejects.toThrow(`${file}: ${message}`);
  });
});
