import { describe, expect, it } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as oauth from 'oauth4webapi';
import {
  challengeFor, ChallengeSyntaxError, clientAuthentication, clientSecretBasic, dpopSigner, errorText, formatChallenge, formUrlEncode, generateDpopKeyPair,
  htuFor, MAX_ERROR_TEXT_CHARS, parseChallenges, wellKnownPath, wellKnownUrl, WELL_KNOWN,
} from '../src/protocol/client/index.js';
import { accessTokenHash, DPOP_SIGNING_ALGORITHMS } from '../src/protocol/dpop.js';
import { JWT_BEARER_ASSERTION } from '../src/protocol/tokens.js';
import { verifyProof } from '../src/rs/dpop.js';
import { challenge, invalidToken, Refusal } from '../src/rs/refusal.js';

/**
 * The client-side protocol kit (src/protocol/client/): one encoding of client authentication, one
 * well-known rule, one DPoP signer, one WWW-Authenticate builder and its parser; and the algorithm
 * lists advertised equal to the ones accepted.
 */

/** Text that needs every rule of RFC 6749 §5.2's character set: a quote, CR LF, NUL, a backslash, non-ASCII. */
const HOSTILE = '"<script>\r\n\u0000\\é\u2028';

/** What oauth4webapi, a client written by others, puts in the Authorization header for this pair. */
async function oauth4webapiBasic(id: string, secret: string): Promise<string> {
  const headers = new Headers();
  await oauth.ClientSecretBasic(secret)({ issuer: 'https://as.example.com' }, { client_id: id }, new URLSearchParams(), headers);
  return headers.get('authorization')!;
}

const decodeBasic = (value: string) => Buffer.from(value.slice('Basic '.length), 'base64').toString('utf8');

describe('client_secret_basic (RFC 6749 §2.3.1)', () => {
  const PAIRS: [string, string, string][] = [
    ['spaces', 'https://api.example.com/my api', 'a secret with spaces'],
    ['colons', 'urn:example:rs', 'pass:word:with:colons'],
    ['percent and plus', 'id%41+x', 'secret%2F+plus%'],
    ['non-ASCII', 'café-résumé', 'pässwörd-日本語-🔑'],
    ['every mark', "a-b_c.d!e~f*g'h(i)j", 'k&l=m?n/o#p@q[r]s;t,u"v\\w'],
  ];

  it.each(PAIRS)('%s: the same bytes oauth4webapi sends', async (_what, id, secret) => {
    expect(clientSecretBasic(id, secret)).toBe(await oauth4webapiBasic(id, secret));
  });

  it('a space becomes "+", a letter or digit stays, every other octet is %HH of its UTF-8', () => {
    expect(formUrlEncode('a b:c%d+é')).toBe('a+b%3Ac%25d%2B%C3%A9');
    expect(decodeBasic(clientSecretBasic('my rs', 'a:b'))).toBe('my+rs:a%3Ab');
  });

  it('decodes back to the pair with a form decoder, the colon splitting id from secret', () => {
    for (const [, id, secret] of PAIRS) {
      const [encodedId, encodedSecret] = decodeBasic(clientSecretBasic(id, secret)).split(':');
      const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      expect([formDecode(encodedId!), formDecode(encodedSecret!)]).toEqual([id, secret]);
    }
  });

  it('client_secret_post and private_key_jwt: members in the body, no header', async () => {
    expect(await clientAuthentication({ clientId: 'a b', clientSecret: 's t', method: 'client_secret_post' }, 'https://as.example.com'))
      .toEqual({ headers: {}, params: { client_id: 'a b', client_secret: 's t' } });
    const { privateKey } = await generateDpopKeyPair('ES256');
    const nowMs = Date.UTC(2026, 0, 1);
    const auth = await clientAuthentication({ clientId: 'rs', privateKey, alg: 'ES256', kid: 'k1' }, 'https://as.example.com', { nowMs: () => nowMs });
    expect(auth.headers).toEqual({});
    expect(auth.params.client_assertion_type).toBe(JWT_BEARER_ASSERTION);
    expect(decodeProtectedHeader(auth.params.client_assertion!)).toEqual({ alg: 'ES256', kid: 'k1' });
    expect(decodeJwt(auth.params.client_assertion!)).toMatchObject({ iss: 'rs', sub: 'rs', aud: 'https://as.example.com', iat: nowMs / 1000, exp: nowMs / 1000 + 60 });
  });
});

describe('well-known URLs (RFC 8414 §3.1, RFC 9728 §3.1, SSF §7.2)', () => {
  it.each([
    ['https://sts.example.com', 'https://sts.example.com/.well-known/oauth-authorization-server'],
    ['https://sts.example.com/', 'https://sts.example.com/.well-known/oauth-authorization-server'],
    ['https://sts.example.com/tenant/a', 'https://sts.example.com/.well-known/oauth-authorization-server/tenant/a'],
    ['https://sts.example.com/tenant/a/', 'https://sts.example.com/.well-known/oauth-authorization-server/tenant/a'],
    ['http://127.0.0.1:8080/issuer1', 'http://127.0.0.1:8080/.well-known/oauth-authorization-server/issuer1'],
  ])('issuer %s → %s', (issuer, url) => {
    expect(wellKnownUrl(issuer, WELL_KNOWN.authorizationServer)).toBe(url);
  });

  it('the same insertion for a protected resource (its query kept) and the SSF configuration; the path alone for a router', () => {
    expect(wellKnownUrl('https://api.example.com/mcp?x=1', WELL_KNOWN.protectedResource)).toBe('https://api.example.com/.well-known/oauth-protected-resource/mcp?x=1');
    expect(wellKnownUrl('https://sts.example.com/t', WELL_KNOWN.ssfConfiguration)).toBe('https://sts.example.com/.well-known/ssf-configuration/t');
    expect(wellKnownPath('https://sts.example.com/t/', WELL_KNOWN.authorizationServer)).toBe('/.well-known/oauth-authorization-server/t');
  });
});

describe('WWW-Authenticate parser (RFC 9110 §11.6.1)', () => {
  it('RFC 7235 §4.1\'s own example: two challenges in one value, a quoted-pair, an unquoted token value', () => {
    expect(parseChallenges('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"')).toEqual([
      { scheme: 'Newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'Basic', params: { realm: 'simple' } },
    ]);
  });

  it('RFC 9449 §7.1 and RFC 6750 §3 values; several header lines joined by ", " (as fetch joins them)', () => {
    const dpop = 'DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"';
    const bearer = 'Bearer realm="example", error="invalid_token", error_description="The access token expired"';
    expect(parseChallenges(`${bearer}, ${dpop}`)).toEqual([
      { scheme: 'Bearer', params: { realm: 'example', error: 'invalid_token', error_description: 'The access token expired' } },
      { scheme: 'DPoP', params: { error: 'invalid_token', error_description: 'Invalid DPoP key binding', algs: 'ES256' } },
    ]);
  });

  it('commas and "=" inside quoted strings belong to the value (RFC 7616\'s Digest example)', () => {
    const digest = 'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
      + 'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
    const [c] = parseChallenges(`${digest}, Bearer realm="a=b, c"`);
    expect(c).toEqual({
      scheme: 'Digest',
      params: { realm: 'http-auth@example.org', qop: 'auth, auth-int', algorithm: 'SHA-256', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS' },
    });
    expect(challengeFor(parseChallenges(`${digest}, Bearer realm="a=b, c"`), 'bearer')).toEqual({ scheme: 'Bearer', params: { realm: 'a=b, c' } });
  });

  it('token68 challenges, a scheme alone, empty list elements, parameter names case-insensitive', () => {
    expect(parseChallenges('Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1==, Basic, , NTLM, Bearer REALM="x" , ERROR=invalid_token')).toEqual([
      { scheme: 'Negotiate', token68: 'YIIGhgYJKoZIhvcSAQICAQBuggZ1==', params: {} },
      { scheme: 'Basic', params: {} },
      { scheme: 'NTLM', params: {} },
      { scheme: 'Bearer', params: { realm: 'x', error: 'invalid_token' } },
    ]);
  });

  it.each([
    ['a parameter without a scheme', 'realm="x"'],
    ['an unterminated quoted string', 'Bearer realm="x'],
    ['a parameter named twice', 'Bearer realm="a", Realm="b"'],
    ['a quoted string where a scheme goes', 'Bearer realm="a", "b"'],
  ])('refuses %s', (_what, header) => {
    expect(() => parseChallenges(header)).toThrow(ChallengeSyntaxError);
  });

  it('reads back what the builder writes: quotes and backslashes as quoted-pairs, CR and LF never sent', () => {
    const value = formatChallenge('Bearer', { realm: 'a "quoted" \\ realm', error: 'invalid_token', error_description: 'line\r\nX-Injected: 1', scope: undefined });
    expect(value).not.toMatch(/[\r\n]/);
    expect(parseChallenges(value)).toEqual([{ scheme: 'Bearer', params: { realm: 'a "quoted" \\ realm', error: 'invalid_token', error_description: 'line??X-Injected: 1' } }]);
  });

  it('parses every challenge the gate sends (agent-sts\'s own: test/unit/server-challenges.test.ts)', () => {
    const sent = [
      challenge(new Refusal(403, 'insufficient_scope', 'lacks a, b', 'DPoP'), 'https://api.example.com', 'https://api.example.com/.well-known/oauth-protected-resource', ['a', 'b'])!,
      challenge(invalidToken('token "revoked"'), 'api', 'https://api.example.com/.well-known/oauth-protected-resource', [])!,
    ];
    expect(parseChallenges(sent.join(', ')).map((c) => [c.scheme, c.params])).toEqual([
      ['DPoP', {
        realm: 'https://api.example.com', error: 'insufficient_scope', error_description: 'lacks a, b', scope: 'a b', algs: DPOP_SIGNING_ALGORITHMS.join(' '),
        resource_metadata: 'https://api.example.com/.well-known/oauth-protected-resource',
      }],
      ['Bearer', { realm: 'api', error: 'invalid_token', error_description: "token 'revoked'", resource_metadata: 'https://api.example.com/.well-known/oauth-protected-resource' }],
    ]);
  });

  it.each([['hostile', HOSTILE], ['long', `${HOSTILE}${'x'.repeat(400)}`], ['full-length', 'y'.repeat(MAX_ERROR_TEXT_CHARS)]])(
    'one sanitiser: the gate\'s challenge says a %s text exactly as errorText makes it (agent-sts\'s body: test/security/error-text.test.ts)',
    (_name, text) => {
      const header = challenge(invalidToken(text), 'api', 'https://api.example.com/.well-known/oauth-protected-resource', []);
      expect(/error_description="([^"]*)"/.exec(header!)?.[1]).toBe(errorText(text));
    },
  );
});

describe('DPoP: the signer, and what is advertised equals what is accepted', () => {
  const URL_ = 'https://api.example.com/invoices?page=2#top';

  it('a proof for a request: htm, htu without query or fragment, iat, a fresh jti, ath beside a token, nonce when given; the verifier accepts it', async () => {
    const nowMs = Date.now();
    const signer = await dpopSigner({ clock: { nowMs: () => nowMs } });
    const proof = await signer.proof('GET', URL_, { accessToken: 'tok', nonce: 'n-1' });
    expect(decodeProtectedHeader(proof)).toEqual({ alg: 'ES256', typ: 'dpop+jwt', jwk: signer.key.jwk });
    expect(signer.key.jwk).not.toHaveProperty('d');
    const claims = decodeJwt(proof);
    expect(claims).toEqual({ jti: expect.any(String), htm: 'GET', htu: htuFor(URL_), iat: Math.floor(nowMs / 1000), ath: accessTokenHash('tok'), nonce: 'n-1' });
    expect(claims.htu).toBe('https://api.example.com/invoices');
    expect(decodeJwt(await signer.proof('GET', URL_)).jti).not.toBe(claims.jti);
    const bare = await signer.proof('POST', URL_, { accessToken: 'tok' });
    await expect(verifyProof(bare, { method: 'POST', url: URL_, accessToken: 'tok', nowMs })).resolves.toMatchObject({ jkt: signer.key.jkt });
  });

  it('every algorithm the gate\'s challenge advertises (DPOP_SIGNING_ALGORITHMS) is one the DPoP check accepts, and no other', async () => {
    const advertisedByChallenge = parseChallenges(challenge(new Refusal(401, 'invalid_token', 'x', 'DPoP'), 'r', 'https://r/.well-known/x', [])!)[0]!.params.algs!.split(' ');
    expect(advertisedByChallenge).toEqual([...DPOP_SIGNING_ALGORITHMS]);
    const nowMs = Date.now();
    for (const alg of DPOP_SIGNING_ALGORITHMS) {
      const signer = await dpopSigner({ key: await generateDpopKeyPair(alg) });
      const proof = await signer.proof('GET', URL_);
      await expect(verifyProof(proof, { method: 'GET', url: URL_, nowMs }).then(() => alg)).resolves.toBe(alg);
    }
  });
});
