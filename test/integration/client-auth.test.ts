import { assertionId } from '../../src/clients/authenticate.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { API, basic, claims, form, ISSUER, OTHER_API, redisState, SECRETS, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { expectOAuthError, expectRefused } from '../helpers/responses.js';

/**
 * Client authentication at /token (and, for resource servers, /introspect): client_secret_basic,
 * client_secret_post and private_key_jwt (RFC 7523), one method per request, and every refusal a
 * 401 invalid_client (or 400 invalid_request when the request itself is malformed) that issues
 * nothing and writes nothing to Redis.
 */

const T0 = Date.now();
const NOW_S = Math.floor(T0 / 1000);
const CC = 'client_credentials';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TOKEN_ENDPOINT = `${ISSUER}/token`;
const INVALID_CLIENT_BODY = '{"error":"invalid_client","error_description":"client authentication failed"}';

/** An agent whose id and secret need form-urlencoding in a Basic header (RFC 6749 §2.3.1). */
const ODD_ID = 'odd/agent:id@example.org';
const ODD_SECRET = 'sp ace+plus%25pct:colon/slash&amp=eq?q#h-0123456789abcdef';
const HYBRID_SECRET = 'hybrid-agent-secret-0123456789abcdefgh';
const KID = 'jwt-agent-key-1';

type Res = request.Response;
const formEncode = (s: string) => new URLSearchParams([['', s]]).toString().slice(1);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const grant: [string, string][] = [['grant_type', CC], ['resource', API], ['scope', 'invoices:read']];

describe('client authentication', () => {
  let sts: TestSts;
  let agentKey: CryptoKey;
  let otherKey: CryptoKey;
  let publicJwk: JWK & { kty: string };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    agentKey = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kty: 'EC', kid: KID, alg: 'ES256', use: 'sig' };
    sts = await startSts({
      clock: { nowMs: () => T0 },
      registry: testRegistry({
        agents: [
          { id: 'jwt-agent', jwks: { keys: [publicJwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60 },
          { id: 'hybrid-agent', secretHash: hashSecret(HYBRID_SECRET), jwks: { keys: [publicJwk] }, audiences: { [API]: ['invoices:read'] } },
          { id: ODD_ID, secretHash: hashSecret(ODD_SECRET), audiences: { [API]: ['invoices:read'] } },
          { id: 'disabled-jwt-agent', jwks: { keys: [publicJwk] }, audiences: { [API]: ['invoices:read'] }, disabled: true },
        ],
      }),
    });
  });
  afterAll(async () => {
    await sts.close();
  });

  const token = () => request(sts.app).post('/token');

  /**
   * A refusal: exact status/error, Redis unchanged, no token.issued, one token.denied (at /token
   * for every refusal, at /introspect for failed client authentication).
   */
  const refused = (send: () => Promise<Res>, status: number, error: string, endpoint: 'token' | 'introspect' = 'token') =>
    expectRefused(sts, send, status, error, { events: endpoint === 'token' || error === 'invalid_client' ? 'denied' : 'none' });

  /** 401 invalid_client with the one generic body; authentication failures name no agent in the event. */
  async function rejected(send: () => Promise<Res>, endpoint: 'token' | 'introspect' = 'token'): Promise<Res> {
    const res = await refused(send, 401, 'invalid_client', endpoint);
    if (endpoint === 'token') expect(sts.events.events.at(-1)).not.toHaveProperty('agent');
    return res;
  }

  interface AssertionOptions {
    iss?: string | null;
    sub?: string | null;
    aud?: string | string[] | null;
    exp?: number | null;
    jti?: string | null;
    typ?: string;
    kid?: string | null;
    key?: CryptoKey;
  }

  /** A client assertion for jwt-agent; `null` leaves a claim out. */
  async function assertion(o: AssertionOptions = {}): Promise<string> {
    const c: Record<string, unknown> = {};
    const set = (name: string, v: unknown, dflt: unknown) => {
      if (v === null) return;
      c[name] = v === undefined ? dflt : v;
    };
    set('iss', o.iss, 'jwt-agent');
    set('sub', o.sub, 'jwt-agent');
    set('aud', o.aud, ISSUER);
    set('exp', o.exp, NOW_S + 60);
    set('jti', o.jti, randomUUID());
    c.iat = NOW_S;
    const header: Record<string, string> = { alg: 'ES256' };
    if (o.kid !== null) header.kid = o.kid ?? KID;
    if (o.typ) header.typ = o.typ;
    return new SignJWT(c).setProtectedHeader(header as { alg: string }).sign(o.key ?? agentKey);
  }

  const withAssertion = (a: string, extra: [string, string][] = []) =>
    token().type('form').send(form([...grant, ['client_assertion_type', JWT_BEARER], ['client_assertion', a], ...extra]));

  describe('client_secret_basic', () => {
    it('authenticates an agent with its id and secret', async () => {
      const res = await token().set('Authorization', basic('billing-agent')).type('form').send(form(grant));
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token).client_id).toBe('billing-agent');
    });

    it('form-urlencodes id and secret before base64 (space as +, and : / @ % + & = ? # escaped)', async () => {
      const header = `Basic ${Buffer.from(`${formEncode(ODD_ID)}:${formEncode(ODD_SECRET)}`).toString('base64')}`;
      expect(formEncode(ODD_SECRET)).toContain('+');
      const res = await token().set('Authorization', header).type('form').send(form(grant));
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token)).toMatchObject({ client_id: ODD_ID, sub: ODD_ID });
    });

    it('decodes a resource server id that is a URL (https://api.example.com) at /introspect, as URLSearchParams and as the client kit encode it', async () => {
      const whatwg = `Basic ${Buffer.from(`${formEncode(API)}:${formEncode(SECRETS[API]!)}`).toString('base64')}`;
      // The kit encodes every octet but letters and digits (HTML 4.01, as oauth4webapi does): "." and "-" too.
      expect(basic(API)).not.toBe(whatwg);
      for (const header of [whatwg, basic(API)]) {
        const res = await request(sts.app).post('/introspect').set('Authorization', header).type('form').send(form([['token', 'not-a-token']]));
        expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '{"active":false}' });
      }
    });

    it('refuses a wrong secret: 401 invalid_client with WWW-Authenticate: Basic', async () => {
      const res = await rejected(() => token().set('Authorization', basic('billing-agent', `${SECRETS['billing-agent']}x`)).type('form').send(form(grant)));
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
      expect(res.text).toBe(INVALID_CLIENT_BODY);
    });

    it('refuses an unknown client with a body and challenge byte-identical to a wrong secret', async () => {
      const wrong = await rejected(() => token().set('Authorization', basic('billing-agent', 'wrong-secret-0123456789abcdefghijkl')).type('form').send(form(grant)));
      const unknown = await rejected(() => token().set('Authorization', basic('ghost-agent', 'wrong-secret-0123456789abcdefghijkl')).type('form').send(form(grant)));
      expect(unknown.text).toBe(wrong.text);
      expect(unknown.headers['www-authenticate']).toBe(wrong.headers['www-authenticate']);
    });

    it('refuses a truncated secret, an empty secret and a secret with a case change', async () => {
      const s = SECRETS['billing-agent']!;
      for (const secret of [s.slice(0, -1), s.slice(0, 31), '', s.toUpperCase()]) {
        const res = await rejected(() => token().set('Authorization', basic('billing-agent', secret)).type('form').send(form(grant)));
        expect(res.text).toBe(INVALID_CLIENT_BODY);
      }
    });

    it('refuses a request with no authentication at all: 401 invalid_client with a WWW-Authenticate challenge', async () => {
      const res = await rejected(() => token().type('form').send(form(grant)));
      expect(res.headers['www-authenticate']).toEqual(expect.any(String));
      const bearer = await rejected(() => token().set('Authorization', 'Bearer abc').type('form').send(form(grant)));
      expect(bearer.headers['www-authenticate']).toEqual(expect.any(String));
    });

    it('refuses a client_id alone (no secret, no assertion): 401 invalid_client', async () => {
      await rejected(() => token().type('form').send(form([...grant, ['client_id', 'billing-agent']])));
    });

    it('answers a malformed Basic header with 400 invalid_request', async () => {
      const bad = ['Basic !!!', `Basic ${Buffer.from('no-colon-here').toString('base64')}`, `Basic ${Buffer.from(':secret').toString('base64')}`, `Basic ${Buffer.from('%zz:secret').toString('base64')}`];
      for (const header of bad) await refused(() => token().set('Authorization', header).type('form').send(form(grant)), 400, 'invalid_request');
    });

    it('refuses a disabled agent with its correct secret, with the same body as a wrong secret', async () => {
      const res = await rejected(() => token().set('Authorization', basic('disabled-agent')).type('form').send(form(grant)));
      expect(res.text).toBe(INVALID_CLIENT_BODY);
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    });

    it("refuses a resource server's own credentials at /token: a resource server cannot get a token", async () => {
      await rejected(() => token().set('Authorization', basic(API)).type('form').send(form(grant)));
      await rejected(() => token().set('Authorization', basic(OTHER_API)).type('form').send(form([['grant_type', CC], ['resource', OTHER_API], ['scope', 'reports:read']])));
      await rejected(() => token().type('form').send(form([...grant, ['client_id', API], ['client_secret', SECRETS[API]!]])));
    });

    it("refuses an agent's credentials at /introspect (only resource servers introspect)", async () => {
      await rejected(() => request(sts.app).post('/introspect').set('Authorization', basic('billing-agent')).type('form').send(form([['token', 'x']])), 'introspect');
    });
  });

  describe('client_secret_post', () => {
    it('authenticates with client_id and client_secret in the body', async () => {
      const res = await token().type('form').send(form([...grant, ['client_id', 'billing-agent'], ['client_secret', SECRETS['billing-agent']!]]));
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token).client_id).toBe('billing-agent');
    });

    it('handles special characters in a posted id and secret', async () => {
      const res = await token().type('form').send(form([...grant, ['client_id', ODD_ID], ['client_secret', ODD_SECRET]]));
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token).client_id).toBe(ODD_ID);
    });

    it('refuses a wrong secret and an unknown client with byte-identical bodies', async () => {
      const wrong = await rejected(() => token().type('form').send(form([...grant, ['client_id', 'billing-agent'], ['client_secret', 'nope-0123456789abcdefghijklmnopqrstuv']])));
      const unknown = await rejected(() => token().type('form').send(form([...grant, ['client_id', 'ghost-agent'], ['client_secret', 'nope-0123456789abcdefghijklmnopqrstuv']])));
      expect(wrong.text).toBe(INVALID_CLIENT_BODY);
      expect(unknown.text).toBe(wrong.text);
    });

    it('refuses a disabled agent', async () => {
      await rejected(() => token().type('form').send(form([...grant, ['client_id', 'disabled-agent'], ['client_secret', SECRETS['disabled-agent']!]])));
    });

    it('refuses a secret for an agent that only has keys (jwt-agent)', async () => {
      await rejected(() => token().type('form').send(form([...grant, ['client_id', 'jwt-agent'], ['client_secret', SECRETS['billing-agent']!]])));
    });

    it('answers client_secret without client_id with 400 invalid_request', async () => {
      await refused(() => token().type('form').send(form([...grant, ['client_secret', SECRETS['billing-agent']!]])), 400, 'invalid_request');
    });
  });

  describe('private_key_jwt (RFC 7523)', () => {
    it('authenticates with an assertion whose aud is the issuer, and remembers its jti in Redis until it expires', async () => {
      const jti = randomUUID();
      const before = await redisState(sts);
      const res = await withAssertion(await assertion({ jti }));
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token)).toMatchObject({ client_id: 'jwt-agent', sub: 'jwt-agent' });
      const onceKey = sts.keys!.usedOnce('client-assertion', assertionId('jwt-agent', jti));
      const added = (await redisState(sts)).filter((k) => !before.includes(k));
      expect(added).toContain(onceKey);
      const ttl = await sts.redis!.pttl(onceKey);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual((NOW_S + 60 + 10) * 1000 - T0);
    });

    it('authenticates with aud = the token endpoint, and with client_id in the body naming the same client', async () => {
      expect((await withAssertion(await assertion({ aud: TOKEN_ENDPOINT }))).status).toBe(200);
      expect((await withAssertion(await assertion(), [['client_id', 'jwt-agent']])).status).toBe(200);
    });

    it('lets an agent with both a secret and keys use either', async () => {
      expect((await withAssertion(await assertion({ iss: 'hybrid-agent', sub: 'hybrid-agent' }))).status).toBe(200);
      expect((await token().set('Authorization', basic('hybrid-agent', HYBRID_SECRET)).type('form').send(form(grant))).status).toBe(200);
    });

    it('accepts a jti once: the first use succeeds, the replay is refused and writes nothing', async () => {
      const a = await assertion();
      const first = await withAssertion(a);
      expect(first.status).toBe(200);
      const replay = await rejected(() => withAssertion(a));
      expect(replay.text).toBe(INVALID_CLIENT_BODY);
    });

    const refusals: [string, () => Promise<string>][] = [
      ['expired (beyond the clock tolerance)', () => assertion({ exp: NOW_S - 60 })],
      ['aud naming another server', () => assertion({ aud: 'https://other-sts.example.com' })],
      ['aud naming another endpoint of this server (/introspect)', () => assertion({ aud: `${ISSUER}/introspect` })],
      ['no aud', () => assertion({ aud: null })],
      ['no jti', () => assertion({ jti: null })],
      ['no exp', () => assertion({ exp: null })],
      ['a lifetime of more than an hour', () => assertion({ exp: NOW_S + 2 * 3600 })],
      ['iss different from sub', () => assertion({ iss: 'billing-agent' })],
      ['typ at+jwt (an access token is not an assertion)', () => assertion({ typ: 'at+jwt' })],
      ['signed by another key with the same kid', () => assertion({ key: otherKey })],
      ['signed by another key without a kid', () => assertion({ key: otherKey, kid: null })],
      ['sub naming an agent without keys (billing-agent)', () => assertion({ iss: 'billing-agent', sub: 'billing-agent' })],
      ['sub naming an unknown agent', () => assertion({ iss: 'ghost-agent', sub: 'ghost-agent' })],
      ['sub naming a disabled agent without keys', () => assertion({ iss: 'disabled-agent', sub: 'disabled-agent' })],
      ['sub naming a resource server', () => assertion({ iss: API, sub: API })],
      ['HS256, signed with the hybrid agent client secret', () =>
        new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'HS256' }).setIssuer('hybrid-agent').setSubject('hybrid-agent')
          .setAudience(ISSUER).setIssuedAt(NOW_S).setExpirationTime(NOW_S + 60).sign(new TextEncoder().encode(HYBRID_SECRET))],
      ['HS256, signed with the public JWK as the HMAC secret', () =>
        new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', kid: KID }).setIssuer('jwt-agent').setSubject('jwt-agent')
          .setAudience(ISSUER).setIssuedAt(NOW_S).setExpirationTime(NOW_S + 60).sign(new TextEncoder().encode(JSON.stringify(publicJwk)))],
      ['alg none', async () => `${b64({ alg: 'none' })}.${b64({ iss: 'jwt-agent', sub: 'jwt-agent', aud: ISSUER, exp: NOW_S + 60, jti: randomUUID() })}.`],
      ['a valid signature over a different payload', async () => {
        const [h, , s] = (await assertion()).split('.');
        return `${h}.${b64({ iss: 'jwt-agent', sub: 'jwt-agent', aud: ISSUER, exp: NOW_S + 60, jti: randomUUID() })}.${s}`;
      }],
      ['a non-string typ in the header', async () =>
        `${b64({ alg: 'ES256', kid: KID, typ: 123 })}.${b64({ iss: 'jwt-agent', sub: 'jwt-agent', aud: ISSUER, exp: NOW_S + 60, jti: randomUUID() })}.AAAA`],
      ['a header that is not base64url JSON', async () =>
        `!!notjson.${b64({ iss: 'jwt-agent', sub: 'jwt-agent', aud: ISSUER, exp: NOW_S + 60, jti: randomUUID() })}.AAAA`],
      ['a payload that is not JSON', async () => `${b64({ alg: 'ES256', kid: KID })}.bm90LWpzb24.AAAA`],
      ['not a JWT at all', async () => 'garbage'],
    ];
    it.each(refusals)('refuses an assertion: %s → 401 invalid_client, nothing written', async (_name, make) => {
      const a = await make();
      const res = await rejected(() => withAssertion(a));
      expect(res.headers['www-authenticate'] ?? '').not.toMatch(/^Basic /);
    });

    it('refuses a valid assertion of a disabled agent: 401 invalid_client, no session written', async () => {
      const jti = randomUUID();
      const before = await redisState(sts);
      const n = sts.events.events.length;
      const res = await withAssertion(await assertion({ iss: 'disabled-jwt-agent', sub: 'disabled-jwt-agent', jti }));
      expectOAuthError(res, 401, 'invalid_client');
      expect(res.text).toBe(INVALID_CLIENT_BODY);
      // The (validly signed) assertion's jti may be spent; no session, index or other key appears.
      const added = (await redisState(sts)).filter((k) => !before.includes(k));
      for (const k of added) expect(k).toBe(sts.keys!.usedOnce('client-assertion', assertionId('disabled-jwt-agent', jti)));
      expect(sts.events.events.slice(n)).toEqual([expect.objectContaining({ type: 'token.denied', error: 'invalid_client' })]);
    });

    it('gives every assertion refusal with a usable sub the one generic body (no oracle)', async () => {
      const bodies = new Set<string>();
      for (const a of [await assertion({ exp: NOW_S - 60 }), await assertion({ key: otherKey }), await assertion({ iss: 'ghost-agent', sub: 'ghost-agent' }), await assertion({ jti: null })]) {
        bodies.add((await withAssertion(a)).text);
      }
      expect([...bodies]).toEqual([INVALID_CLIENT_BODY]);
    });

    it('answers a wrong or missing client_assertion_type, or a type without an assertion, with 400 invalid_request', async () => {
      const a = await assertion();
      await refused(() => token().type('form').send(form([...grant, ['client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer'], ['client_assertion', a]])), 400, 'invalid_request');
      await refused(() => token().type('form').send(form([...grant, ['client_assertion', a]])), 400, 'invalid_request');
      await refused(() => token().type('form').send(form([...grant, ['client_assertion_type', JWT_BEARER]])), 400, 'invalid_request');
      // None of these consumed the jti: the same assertion still authenticates once.
      expect((await withAssertion(a)).status).toBe(200);
    });
  });

  describe('exactly one method per request', () => {
    it('refuses Basic + client_secret in the body with 400 invalid_request', async () => {
      await refused(() => token().set('Authorization', basic('billing-agent')).type('form')
        .send(form([...grant, ['client_id', 'billing-agent'], ['client_secret', SECRETS['billing-agent']!]])), 400, 'invalid_request');
    });

    it('refuses Basic + client assertion with 400 invalid_request', async () => {
      const a = await assertion({ iss: 'hybrid-agent', sub: 'hybrid-agent' });
      await refused(() => token().set('Authorization', basic('hybrid-agent', HYBRID_SECRET)).type('form')
        .send(form([...grant, ['client_assertion_type', JWT_BEARER], ['client_assertion', a]])), 400, 'invalid_request');
    });

    it('refuses client_secret + client assertion with 400 invalid_request', async () => {
      const a = await assertion({ iss: 'hybrid-agent', sub: 'hybrid-agent' });
      await refused(() => token().type('form')
        .send(form([...grant, ['client_id', 'hybrid-agent'], ['client_secret', HYBRID_SECRET], ['client_assertion_type', JWT_BEARER], ['client_assertion', a]])), 400, 'invalid_request');
    });

    it('refuses a body client_id that differs from the Basic credentials with 400 invalid_request', async () => {
      await refused(() => token().set('Authorization', basic('billing-agent')).type('form').send(form([...grant, ['client_id', 'sub-agent']])), 400, 'invalid_request');
    });

    it('refuses a body client_id that differs from the assertion sub with 400 invalid_request', async () => {
      const a = await assertion();
      await refused(() => withAssertion(a, [['client_id', 'billing-agent']]), 400, 'invalid_request');
    });

    it('accepts a body client_id equal to the Basic id', async () => {
      const res = await token().set('Authorization', basic('billing-agent')).type('form').send(form([...grant, ['client_id', 'billing-agent']]));
      expect(res.status).toBe(200);
    });
  });
});
