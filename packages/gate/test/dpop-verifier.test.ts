import { beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, generateSecret, SignJWT } from 'jose';
import { DPOP_PROOF_FUTURE_LEEWAY_SECONDS, DPOP_PROOF_MAX_AGE_SECONDS } from '../src/protocol/dpop.js';
import {
  dpopVerifier, htuOf, memoryReplayCache, proofExpiresAtMs, proofKeyCache, proofReplayKey, verifyProof,
  type DpopCheck, type DpopReplayCache,
} from '../src/rs/dpop.js';
import { dpopKey, proof, unsignedProof, type DpopKey } from './helpers/dpop.js';

/**
 * The resource server's DPoP decision, called directly: every refusal of RFC 9449 §4.3 and §7 and
 * of oidc-provider's DPoP tests, each with the exact error code, and the accepted variants.
 */
const URL_ = 'https://api.example.com/invoices';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl';
const NOW_S = 1_800_000_000;
const nowMs = () => NOW_S * 1000;

let key: DpopKey;
let other: DpopKey;

beforeAll(async () => {
  key = await dpopKey('ES256');
  other = await dpopKey('ES256');
});

const verifier = (replay?: DpopReplayCache) => dpopVerifier({ nowMs, ...(replay ? { replay } : {}) });

async function check(p: string | undefined, over: Partial<DpopCheck> = {}, v = verifier()) {
  return v.check({ scheme: 'dpop', proof: p, method: 'GET', url: URL_, accessToken: TOKEN, jkt: key.jkt, ...over });
}

const good = (o: Parameters<typeof proof>[1] = {}) => proof(key, { htm: 'GET', htu: URL_, token: TOKEN, iat: NOW_S, ...o });

const refused = (error: 'invalid_token' | 'invalid_dpop_proof', description: RegExp) => ({ ok: false, error, description: expect.stringMatching(description) });

describe('accepted proofs', () => {
  it('a proof by the bound key, for this method and URL, with ath, is accepted once', async () => {
    expect(await check(await good())).toEqual({ ok: true });
  });

  it.each(['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256'])('%s keys', async (alg) => {
    const k = await dpopKey(alg);
    expect(await check(await proof(k, { htu: URL_, token: TOKEN, iat: NOW_S }), { jkt: k.jkt })).toEqual({ ok: true });
  });

  it.each([
    ['query and fragment ignored', `${URL_}?page=2#top`],
    ['scheme and host case, default port', 'HTTPS://API.Example.COM:443/invoices'],
    ['percent-encoded unreserved characters', 'https://api.example.com/%69nvoices'],
  ])('htu: %s', async (_, htu) => {
    expect(await check(await good({ htu }))).toEqual({ ok: true });
  });

  it('the request URL is normalised the same way (its query ignored)', async () => {
    expect(await check(await good(), { url: `${URL_}?a=1` })).toEqual({ ok: true });
  });

  it(`iat up to ${DPOP_PROOF_MAX_AGE_SECONDS} s old and ${DPOP_PROOF_FUTURE_LEEWAY_SECONDS} s ahead`, async () => {
    expect(await check(await good({ iat: NOW_S - DPOP_PROOF_MAX_AGE_SECONDS }))).toEqual({ ok: true });
    expect(await check(await good({ iat: NOW_S + DPOP_PROOF_FUTURE_LEEWAY_SECONDS }))).toEqual({ ok: true });
  });

  it('an unbound token sent as Bearer needs no proof, and a DPoP header beside it is ignored', async () => {
    expect(await check(undefined, { scheme: 'bearer', jkt: undefined })).toEqual({ ok: true });
    expect(await check('garbage', { scheme: 'bearer', jkt: undefined })).toEqual({ ok: true });
  });
});

describe('scheme and binding (RFC 9449 §7: no downgrade)', () => {
  it('a DPoP-bound token sent as Bearer is refused, with or without a proof', async () => {
    expect(await check(undefined, { scheme: 'bearer' })).toEqual(refused('invalid_token', /DPoP-bound/));
    expect(await check(await good(), { scheme: 'bearer' })).toEqual(refused('invalid_token', /DPoP-bound/));
  });

  it('the DPoP scheme with a token that has no cnf.jkt is refused', async () => {
    expect(await check(await good(), { jkt: undefined })).toEqual(refused('invalid_token', /not DPoP-bound/));
  });

  it('the DPoP scheme without a proof is refused', async () => {
    expect(await check(undefined)).toEqual(refused('invalid_dpop_proof', /needs a DPoP proof/));
  });

  it('a valid proof by another key (thumbprint is not cnf.jkt) is refused, and does not use up its jti', async () => {
    const byOther = await proof(other, { htu: URL_, token: TOKEN, iat: NOW_S });
    const v = verifier();
    expect(await check(byOther, {}, v)).toEqual(refused('invalid_token', /not the key the token is bound to/));
    expect(await check(byOther, { jkt: other.jkt }, v)).toEqual({ ok: true });
  });
});

describe('malformed proofs (oidc-provider test/dpop: "validates the DPoP proof JWT is conform")', () => {
  it.each(['invalid', 'a.b.c', '', `${'a'.repeat(9000)}.b.c`])('not a JWS: %#', async (p) => {
    expect(await check(p)).toEqual(refused('invalid_dpop_proof', /not a JWS|too long/));
  });

  it.each([undefined, 'JWT', 'secevent+jwt', 'at+jwt'])('typ %s', async (typ) => {
    expect(await check(await good({ header: { typ } }))).toEqual(refused('invalid_dpop_proof', /typ must be dpop\+jwt/));
  });

  it.each([1, true, 'none', 'HS256', 'unsupported'])('alg %s', async (alg) => {
    expect(await check(unsignedProof({ alg, typ: 'dpop+jwt', jwk: key.jwk }))).toEqual(refused('invalid_dpop_proof', /asymmetric algorithm/));
  });

  it('an HS256 proof (a symmetric key in jwk) is refused', async () => {
    const secret = await generateSecret('HS256', { extractable: true });
    const p = await new SignJWT({ jti: 'x', htm: 'GET', htu: URL_, iat: NOW_S })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: await exportJWK(secret) }).sign(secret);
    expect(await check(p)).toEqual(refused('invalid_dpop_proof', /asymmetric algorithm/));
  });

  it.each([undefined, '', 1, true, null, 'foo', []])('jwk %p', async (jwk) => {
    expect(await check(await good({ header: { jwk } }))).toEqual(refused('invalid_dpop_proof', /public key in jwk/));
  });

  it('a private key in jwk is refused', async () => {
    expect(await check(await good({ header: { jwk: await exportJWK(key.privateKey) } }))).toEqual(refused('invalid_dpop_proof', /public asymmetric key/));
  });

  it('an oct jwk beside an ES256 alg is refused', async () => {
    expect(await check(await good({ header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } }))).toEqual(refused('invalid_dpop_proof', /public asymmetric key/));
  });

  it("a jwk for encryption, or for another algorithm, is refused (jose's embedded-key rules)", async () => {
    expect(await check(await good({ header: { jwk: { ...key.jwk, use: 'enc' } } }))).toEqual(refused('invalid_dpop_proof', /signing key/));
    expect(await check(await good({ header: { jwk: { ...key.jwk, alg: 'ES384' } } }))).toEqual(refused('invalid_dpop_proof', /another algorithm/));
  });

  it('a P-256 key with an ES384 alg is refused', async () => {
    const k = { ...key, alg: 'ES384' };
    expect(await check(unsignedProof({ alg: 'ES384', typ: 'dpop+jwt', jwk: k.jwk }, { jti: 'x', htm: 'GET', htu: URL_, iat: NOW_S }))).toEqual(refused('invalid_dpop_proof', /unusable|signature|malformed/));
  });

  it("the header's jwk is another key than the signer's: the signature fails", async () => {
    expect(await check(await good({ header: { jwk: other.jwk } }))).toEqual(refused('invalid_dpop_proof', /signature does not verify/));
  });

  it('a tampered payload fails the signature', async () => {
    const [h, , s] = (await good()).split('.');
    const forged = Buffer.from(JSON.stringify({ jti: 'x', htm: 'GET', htu: URL_, iat: NOW_S })).toString('base64url');
    expect(await check(`${h}.${forged}.${s}`)).toEqual(refused('invalid_dpop_proof', /signature does not verify/));
  });

  it('an ES256 key in jwk with an RS256 alg is refused', async () => {
    const rsa = await generateKeyPair('RS256');
    const p = await new SignJWT({ jti: 'x', htm: 'GET', htu: URL_, iat: NOW_S })
      .setProtectedHeader({ alg: 'RS256', typ: 'dpop+jwt', jwk: key.jwk }).sign(rsa.privateKey);
    expect(await check(p)).toEqual(refused('invalid_dpop_proof', /malformed|unusable/));
  });
});

describe('claims', () => {
  it.each([undefined, '', 42, 'x'.repeat(257)])('jti %p', async (jti) => {
    expect(await check(await good({ claims: { jti } }))).toEqual(refused('invalid_dpop_proof', /jti/));
  });

  it.each([undefined, 'POST', 'get'])('htm %p for a GET', async (htm) => {
    expect(await check(await good({ claims: { htm } }))).toEqual(refused('invalid_dpop_proof', /htm/));
  });

  it.each([
    undefined, 'foo', '/invoices', 'https://api.example.com/other', 'https://evil.example.com/invoices',
    'http://api.example.com/invoices', 'https://api.example.com:8443/invoices', 'https://api.example.com/invoices/', 'ftp://api.example.com/invoices',
  ])('htu %p', async (htu) => {
    expect(await check(await good({ claims: { htu } }))).toEqual(refused('invalid_dpop_proof', /htu/));
  });

  it.each([
    ['too old', NOW_S - DPOP_PROOF_MAX_AGE_SECONDS - 1, /too old/],
    ['5 minutes old', NOW_S - 301, /too old/],
    ['ahead beyond the leeway', NOW_S + DPOP_PROOF_FUTURE_LEEWAY_SECONDS + 1, /future/],
    ['missing', undefined, /numeric iat/],
    ['a string', String(NOW_S), /iat/],
  ])('iat %s', async (_, iat, description) => {
    expect(await check(await good({ claims: { iat } }))).toEqual(refused('invalid_dpop_proof', description));
  });

  it('an expired exp is refused', async () => {
    expect(await check(await good({ claims: { exp: NOW_S - 3600 } }))).toEqual(refused('invalid_dpop_proof', /expired/));
  });

  it.each([null, 'foo', ''])('a nonce (%p): this server issues none', async (nonce) => {
    expect(await check(await good({ claims: { nonce } }))).toEqual(refused('invalid_dpop_proof', /nonce/));
  });

  it('ath missing, or the hash of another token', async () => {
    expect(await check(await good({ token: undefined }))).toEqual(refused('invalid_dpop_proof', /ath/));
    expect(await check(await good({ token: 'another-access-token' }))).toEqual(refused('invalid_dpop_proof', /ath/));
  });
});

describe('replay (jti single use)', () => {
  it('the same proof twice: the second is refused', async () => {
    const v = verifier();
    const p = await good();
    expect(await check(p, {}, v)).toEqual({ ok: true });
    expect(await check(p, {}, v)).toEqual(refused('invalid_dpop_proof', /already used/));
  });

  it('the same jti in a fresh proof is refused too (the key is the key thumbprint and jti)', async () => {
    const v = verifier();
    expect(await check(await good({ claims: { jti: 'same' } }), {}, v)).toEqual({ ok: true });
    expect(await check(await good({ claims: { jti: 'same' }, iat: NOW_S - 1 }), {}, v)).toEqual(refused('invalid_dpop_proof', /already used/));
  });

  it('a replay cache that fails makes check() reject (the caller answers 503), never accept', async () => {
    const broken: DpopReplayCache = { useOnce: () => Promise.reject(new Error('redis down')) };
    await expect(check(await good(), {}, verifier(broken))).rejects.toThrow('redis down');
  });

  it('the entry lives exactly as long as the proof could pass the iat check', async () => {
    const p = await verifyProof(await good(), { method: 'GET', url: URL_, accessToken: TOKEN, nowMs: nowMs() });
    expect(proofExpiresAtMs(p)).toBe((NOW_S + DPOP_PROOF_MAX_AGE_SECONDS) * 1000 + 1);
    expect(proofReplayKey(p)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('memoryReplayCache is bounded: full of live entries it refuses; expired entries make room', async () => {
    let now = 1_000;
    const cache = memoryReplayCache(2, () => now);
    expect(await cache.useOnce('a', 2_000)).toBe(true);
    expect(await cache.useOnce('b', 2_000)).toBe(true);
    expect(await cache.useOnce('a', 2_000)).toBe(false);
    expect(await cache.useOnce('c', 2_000)).toBe(false);
    now = 2_000;
    expect(await cache.useOnce('c', 3_000)).toBe(true);
    expect(await cache.useOnce('a', 3_000)).toBe(true);
    expect(await cache.useOnce('a', 3_000)).toBe(false);
  });
});

describe('proofKeyCache', () => {
  it('imports a key once, stays bounded, and a cached key still needs a valid signature', async () => {
    const keys = proofKeyCache(1);
    const v = dpopVerifier({ nowMs, keys });
    const first = await keys.get('ES256', key.jwk);
    expect(await keys.get('ES256', key.jwk)).toBe(first);
    expect(first.jkt).toBe(key.jkt);
    await keys.get('ES256', other.jwk);
    expect(await keys.get('ES256', key.jwk)).not.toBe(first);
    expect(await check(await good({ header: { jwk: other.jwk } }), { jkt: other.jkt }, v)).toEqual(refused('invalid_dpop_proof', /signature does not verify/));
    expect(await check(await good(), {}, v)).toEqual({ ok: true });
  });
});

describe('htuOf', () => {
  it('keeps scheme, host, non-default port and path; drops query and fragment', () => {
    expect(htuOf('https://A.example.com:443/x/../y?q#f')).toBe('https://a.example.com/y');
    expect(htuOf('http://a.example.com:8080/%7euser/%2f')).toBe('http://a.example.com:8080/~user/%2F');
    expect(htuOf('mailto:x@example.com')).toBeUndefined();
    expect(htuOf('not a url')).toBeUndefined();
  });
});
