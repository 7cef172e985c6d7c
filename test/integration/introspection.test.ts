import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import {
  ADMIN_AUD, API, basic, claims, clientCredentials, exchange, form, introspect, ISSUER, OTHER_API, redisState, SECRETS, startSts, type TestSts, snapshot,
} from '../helpers/sts.js';
import { expectInactiveBody, INACTIVE } from '../helpers/liveness.js';
import { expectOAuthError } from '../helpers/responses.js';

/**
 * POST /introspect (RFC 7662) against real Redis: who may call it, the exact shape of an active
 * answer, and exactly {"active":false} for everything a resource server may not see or that is not
 * a live token of ours.
 */

const T0 = Date.now();
const ACTIVE_FIELDS = ['active', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub', 'token_type'];

/** Replaces one character in the middle of the signature segment with a different one. */
function flipSignatureChar(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const i = Math.floor(s.length / 2);
  const c = s[i] === 'A' ? 'B' : 'A';
  return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
}

describe('POST /introspect', () => {
  let sts: TestSts;
  let now = T0;
  let token: string;

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
    token = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  const post = () => request(sts.app).post('/introspect');

  /** Introspection never writes to Redis and never issues anything. */
  async function unchanged<T>(run: () => Promise<T>): Promise<T> {
    const keys = await redisState(sts);
    const before = await snapshot(sts);
    const n = sts.events.events.length;
    const out = await run();
    expect(await redisState(sts)).toEqual(keys);
    expect(await snapshot(sts)).toEqual(before);
    expect(sts.events.events.slice(n).filter((e) => e.type === 'token.issued')).toEqual([]);
    return out;
  }

  describe('who may call it', () => {
    it('refuses an unauthenticated caller: 401 invalid_client, no `active` in the body', async () => {
      const res = await unchanged(() => post().type('form').send(form([['token', token]])));
      expectOAuthError(res, 401, 'invalid_client');
      expect(res.headers['www-authenticate']).toEqual(expect.any(String));
    });

    it('refuses a resource server with a wrong secret: 401 invalid_client, WWW-Authenticate: Basic', async () => {
      const res = await unchanged(() => post().set('Authorization', basic(API, `${SECRETS[API]}x`)).type('form').send(form([['token', token]])));
      expectOAuthError(res, 401, 'invalid_client');
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    });

    it("refuses an unknown resource server, and one presenting another server's secret", async () => {
      expectOAuthError(await post().set('Authorization', basic('https://unknown.example.com', SECRETS[API])).type('form').send(form([['token', token]])), 401, 'invalid_client');
      expectOAuthError(await post().set('Authorization', basic(API, SECRETS[OTHER_API])).type('form').send(form([['token', token]])), 401, 'invalid_client');
    });

    it('refuses agent credentials (an agent is not a resource server): 401 invalid_client', async () => {
      const res = await unchanged(() => post().set('Authorization', basic('billing-agent')).type('form').send(form([['token', token]])));
      expectOAuthError(res, 401, 'invalid_client');
      const admin = await post().set('Authorization', basic('admin')).type('form').send(form([['token', token]]));
      expectOAuthError(admin, 401, 'invalid_client');
    });

    it('refuses a resource server bearer-authenticating with an access token: 401 invalid_client', async () => {
      const res = await post().set('Authorization', `Bearer ${token}`).type('form').send(form([['token', token]]));
      expectOAuthError(res, 401, 'invalid_client');
    });

    it('accepts client_secret_post from a resource server', async () => {
      const res = await post().type('form').send(form([['token', token], ['client_id', API], ['client_secret', SECRETS[API]!]]));
      expect(res.status).toBe(200);
      expect(res.body.active).toBe(true);
    });

    it('answers a missing or empty token with 400 invalid_request', async () => {
      expectOAuthError(await unchanged(() => post().set('Authorization', basic(API)).type('form').send('')), 400, 'invalid_request');
      expectOAuthError(await post().set('Authorization', basic(API)).type('form').send(form([['token', '']])), 400, 'invalid_request');
      expectOAuthError(await post().set('Authorization', basic(API)).type('form').send(form([['token_type_hint', 'access_token']])), 400, 'invalid_request');
    });

    it('answers GET, a JSON body, a query string or a repeated token with 400 invalid_request', async () => {
      expectOAuthError(await request(sts.app).get(`/introspect?token=${token}`).set('Authorization', basic(API)), 400, 'invalid_request');
      expectOAuthError(await post().set('Authorization', basic(API)).type('json').send({ token }), 400, 'invalid_request');
      expectOAuthError(await request(sts.app).post(`/introspect?token=${token}`).set('Authorization', basic(API)).type('form').send(form([['token', token]])), 400, 'invalid_request');
      expectOAuthError(await post().set('Authorization', basic(API)).type('form').send(form([['token', token], ['token', 'x']])), 400, 'invalid_request');
    });
  });

  describe('an active token, for its own audience', () => {
    it('answers exactly active iss sub aud client_id scope exp iat jti token_type sid, matching the JWT', async () => {
      const res = await unchanged(() => introspect(sts, token));
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(Object.keys(res.body).sort()).toEqual(ACTIVE_FIELDS);
      const c = claims(token);
      expect(res.body).toStrictEqual({
        active: true, iss: ISSUER, sub: 'billing-agent', aud: API, client_id: 'billing-agent', scope: 'invoices:read invoices:write',
        exp: c.exp, iat: c.iat, jti: c.jti, token_type: 'Bearer', sid: c.sid,
      });
    });

    it('adds act only for a delegated token, naming the actor (RFC 8693 §4.1)', async () => {
      const ex = await exchange(sts, 'sub-agent', token, API, 'invoices:read');
      expect(ex.status).toBe(200);
      const res = await introspect(sts, ex.body.access_token);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual([...ACTIVE_FIELDS, 'act'].sort());
      const c = claims(ex.body.access_token);
      expect(res.body).toStrictEqual({
        active: true, iss: ISSUER, sub: 'billing-agent', aud: API, client_id: 'sub-agent', scope: 'invoices:read',
        exp: c.exp, iat: c.iat, jti: c.jti, token_type: 'Bearer', sid: c.sid, act: { sub: 'sub-agent' },
      });
      expect(res.body.act).toEqual(c.act);
    });

    it('is seen by the other resource server for its own tokens only', async () => {
      const other = (await clientCredentials(sts, 'billing-agent', OTHER_API, 'reports:read')).access_token;
      const own = await introspect(sts, other, OTHER_API);
      expect(own.body).toMatchObject({ active: true, aud: OTHER_API, scope: 'reports:read' });
      expectInactiveBody(await introspect(sts, other, API));
    });
  });

  describe('exactly {"active":false}, byte-identical, for everything else', () => {
    it("another resource server (https://other.example.com) asking about API's token", async () => {
      const res = await unchanged(() => introspect(sts, token, OTHER_API));
      expectInactiveBody(res);
    });

    it('a token issued for the admin audience, introspected by the API (and by the other server)', async () => {
      const admin = (await clientCredentials(sts, 'admin', ADMIN_AUD, 'sessions:read')).access_token;
      expectInactiveBody(await introspect(sts, admin, API));
      expectInactiveBody(await introspect(sts, admin, OTHER_API));
    });

    const bad: [string, () => Promise<string>][] = [
      ['garbage', async () => 'garbage'],
      ['binary-looking garbage', async () => '\u0000\u00ff%%..'],
      ['three dots', async () => '...'],
      ['a truncated token', async () => token.slice(0, -10)],
      ['the token without its signature', async () => token.split('.').slice(0, 2).join('.') + '.'],
      ['the token with one character changed in the signature', async () => flipSignatureChar(token)],
      ['the token with extra characters appended', async () => `${token}A`],
      ['a very long token', async () => `${token}${'A'.repeat(10_000)}`],
      ['a JWT with the same header and claims signed by another key', async () => {
        const { privateKey } = await generateKeyPair('ES256');
        const h = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string; typ: string };
        return new SignJWT(claims(token)).setProtectedHeader(h).sign(privateKey);
      }],
      ['an unsigned (alg none) JWT with the same claims', async () =>
        `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${token.split('.')[1]}.`],
    ];
    it.each(bad)('%s', async (_name, make) => {
      const t = await make();
      expectInactiveBody(await unchanged(() => introspect(sts, t)));
    });

    it('none of those forgeries touched the real session: the token is still active', async () => {
      const res = await introspect(sts, token);
      expect(res.body.active).toBe(true);
    });

    it('an expired token (fake clock): active 1 ms before exp, inactive at exp and after', async () => {
      const t = (await clientCredentials(sts, 'leaf-agent', API, 'invoices:read')).access_token;
      const exp = claims(t).exp as number;
      try {
        now = exp * 1000 - 1;
        expect((await introspect(sts, t)).body.active).toBe(true);
        now = exp * 1000;
        expectInactiveBody(await introspect(sts, t));
        now = exp * 1000 + 3_600_000;
        expectInactiveBody(await introspect(sts, t));
      } finally {
        now = T0;
      }
      // Same token, clock back: the expiry came from the clock, not from a deletion.
      expect((await introspect(sts, t)).body.active).toBe(true);
    });

    it('a revoked token (POST /revoke by its holder): inactive, its session gone from Redis', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const sid = claims(t).sid as string;
      expect((await introspect(sts, t)).body.active).toBe(true);
      const rev = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send(form([['token', t]]));
      expect(rev.status).toBe(200);
      expect(await sts.redis!.exists(sts.keys!.session(sid))).toBe(0);
      expectInactiveBody(await introspect(sts, t));
    });

    it('a token whose session was deleted from Redis behind the service', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      await sts.redis!.del(sts.keys!.session(claims(t).sid as string));
      expectInactiveBody(await introspect(sts, t));
    });

    it('all of these answers are the same bytes', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const texts = new Set<string>();
      for (const [tok, rs] of [['garbage', API], [t.slice(0, -3), API], [flipSignatureChar(t), API], [t, OTHER_API]] as const) {
        texts.add((await introspect(sts, tok, rs)).text);
      }
      expect([...texts]).toEqual([INACTIVE]);
    });
  });
});
