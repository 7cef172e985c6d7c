import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import {
  ADMIN_AUD, API, basic, claims, form, introspect, ISSUER, OTHER_API, redisState, startSts, type TestSts, snapshot,
} from '../helpers/sts.js';
import { ANY_ISO_TIME, expectRefused } from '../helpers/responses.js';

/**
 * POST /token with grant_type=client_credentials against real Redis: the success response, the
 * RFC 9068 JWT, the session record in Redis, and every refusal (exact status and error code, no
 * token, nothing written to Redis, a token.denied event).
 */

const T0 = Date.now();
const NOW_S = Math.floor(T0 / 1000);
const CC = 'client_credentials';

type Res = request.Response;

/** A form body with exact control over repeats and order. */

describe('POST /token client_credentials', () => {
  let sts: TestSts;

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => T0 } });
  });
  afterAll(async () => {
    await sts.close();
  });

  const post = () => request(sts.app).post('/token');
  const cc = (body: string, agent = 'billing-agent') => post().set('Authorization', basic(agent)).type('form').send(body);

  /** A refusal (see expectRefused); 'no-event' where the request never reached the endpoint. */
  const refused = (send: () => Promise<Res>, status: number, error: string, denial: 'event' | 'no-event' = 'event') =>
    expectRefused(sts, send, status, error, { events: denial === 'event' ? 'denied' : 'none' });

  describe('a successful grant', () => {
    let res: Res;
    let token: string;
    let newKeys: string[];
    let shared: TestSts;

    // A fresh app while this block runs: the keys it diffs are this grant's alone, whichever test ran before.
    beforeAll(async () => {
      shared = sts;
      sts = await startSts({ clock: { nowMs: () => T0 } });
      const before = await redisState(sts);
      res = await cc(form([['grant_type', CC], ['resource', API], ['scope', 'invoices:read']]));
      token = res.body.access_token;
      newKeys = (await redisState(sts)).filter((k) => !before.includes(k));
    });

    it('answers 200 with exactly access_token, token_type Bearer, expires_in = maxTokenTtlSeconds, scope; no-store', () => {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBe('no-cache');
      expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
      expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'invoices:read' });
      expect(typeof token).toBe('string');
    });

    it("uses the requesting agent's own maxTokenTtlSeconds (sub-agent: 120)", async () => {
      const r = await cc(form([['grant_type', CC], ['resource', API], ['scope', 'invoices:read']]), 'sub-agent');
      expect(r.status).toBe(200);
      expect(r.body.expires_in).toBe(120);
      expect((claims(r.body.access_token).exp as number) - (claims(r.body.access_token).iat as number)).toBe(120);
    });

    it('is an RFC 9068 JWT: ES256, typ at+jwt, a kid published in GET /jwks', async () => {
      const header = decodeProtectedHeader(token);
      expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
      const jwks = await request(sts.app).get('/jwks');
      expect(jwks.status).toBe(200);
      const set = JSON.parse(jwks.text) as JSONWebKeySet;
      expect(set.keys.map((k) => k.kid)).toContain(header.kid);
    });

    it('carries exactly iss sub aud client_id scope iat exp jti sid (no act), with the right values', () => {
      const c = claims(token);
      expect(Object.keys(c).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub']);
      expect(c).toMatchObject({ iss: ISSUER, sub: 'billing-agent', aud: API, client_id: 'billing-agent', scope: 'invoices:read', iat: NOW_S, exp: NOW_S + 300 });
      expect(c.act).toBeUndefined();
      expect(c.jti).toEqual(expect.any(String));
      expect(c.sid).toEqual(expect.any(String));
    });

    it('verifies against the keys published at /jwks (createLocalJWKSet)', async () => {
      const set = JSON.parse((await request(sts.app).get('/jwks')).text) as JSONWebKeySet;
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(set), {
        issuer: ISSUER, audience: API, typ: 'at+jwt', algorithms: ['ES256'], currentDate: new Date(T0),
      });
      expect(payload.sub).toBe('billing-agent');
      expect(protectedHeader.alg).toBe('ES256');
      // One changed byte in the payload breaks the signature.
      const [h, p, s] = token.split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims(token), scope: 'invoices:write' })).toString('base64url')}.${s}`;
      expect(p).not.toBe(forged.split('.')[1]);
      await expect(jwtVerify(forged, createLocalJWKSet(set), { currentDate: new Date(T0) })).rejects.toThrow();
    });

    it('stores the session hash in Redis (with the token claims) plus its indexes, every key with a TTL ≈ the lifetime', async () => {
      const c = claims(token);
      const sid = c.sid as string;
      const k = sts.keys!;
      expect(newKeys.sort()).toEqual(
        [k.session(sid), k.agentIndex('billing-agent'), k.subjectIndex('billing-agent'), k.allSessions()].sort(),
      );
      const hash = await sts.redis!.hgetall(k.session(sid));
      expect(hash).toMatchObject({
        ag: 'billing-agent', sub: 'billing-agent', aud: API, sc: 'invoices:read', exp: String(NOW_S + 300), iat: String(NOW_S),
        jti: c.jti as string, p: '', anc: '', d: '0',
      });
      const ttl = await sts.redis!.pttl(k.session(sid));
      const expected = (NOW_S + 300) * 1000 - Date.now();
      expect(ttl).toBeGreaterThan(expected - 2_000);
      expect(ttl).toBeLessThanOrEqual(300_000);
      for (const key of newKeys) expect(await sts.redis!.pttl(key)).toBeGreaterThan(0);
      for (const index of [k.agentIndex('billing-agent'), k.subjectIndex('billing-agent'), k.allSessions()]) {
        expect(await sts.redis!.zscore(index, sid)).toBe(String((NOW_S + 300) * 1000));
      }
    });

    it('never stores the raw token (nor its signature) anywhere in Redis', async () => {
      const dump = JSON.stringify(await snapshot(sts));
      const signature = token.split('.')[2]!;
      expect(dump.length).toBeGreaterThan(100);
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(signature);
      for (const key of await redisState(sts)) expect(key).not.toContain(signature);
    });

    it('records a token.issued event for the session', () => {
      const c = claims(token);
      expect(sts.events.events).toContainEqual({
        type: 'token.issued', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'billing-agent',
        sid: c.sid, agent: 'billing-agent', sub: 'billing-agent', aud: API,
        scope: ['invoices:read'], exp: NOW_S + 300, ttl: 300, grant: CC,
      });
    });

    it('gives each grant its own session and jti, and exactly the requested (narrower) scope', async () => {
      const r = await cc(form([['grant_type', CC], ['resource', API], ['scope', 'invoices:write invoices:read invoices:write']]));
      expect(r.status).toBe(200);
      expect(r.body.scope).toBe('invoices:write invoices:read');
      const c2 = claims(r.body.access_token);
      const c1 = claims(token);
      expect(c2.sid).not.toBe(c1.sid);
      expect(c2.jti).not.toBe(c1.jti);
      expect(c2.scope).toBe('invoices:write invoices:read');
      expect(await sts.redis!.exists(sts.keys!.session(c1.sid as string), sts.keys!.session(c2.sid as string))).toBe(2);
    });

    afterAll(async () => {
      await sts.close();
      sts = shared;
    });
  });

  describe('targets: resource (RFC 8707) or audience (RFC 8693), exactly one', () => {
    it('accepts `audience` as well as `resource`', async () => {
      const r = await cc(form([['grant_type', CC], ['audience', API], ['scope', 'invoices:read']]));
      expect(r.status).toBe(200);
      expect(claims(r.body.access_token).aud).toBe(API);
    });

    it('accepts a non-URL audience the agent is entitled to (admin audience)', async () => {
      const r = await cc(form([['grant_type', CC], ['audience', ADMIN_AUD], ['scope', 'sessions:read']]), 'admin');
      expect(r.status).toBe(200);
      expect(claims(r.body.access_token).aud).toBe(ADMIN_AUD);
    });

    it('issues one audience per token (another entitled resource)', async () => {
      const r = await cc(form([['grant_type', CC], ['resource', OTHER_API], ['scope', 'reports:read']]));
      expect(r.status).toBe(200);
      expect(claims(r.body.access_token).aud).toBe(OTHER_API);
    });

    const cases: [string, [string, string][]][] = [
      ['two different resources', [['resource', API], ['resource', OTHER_API]]],
      ['resource and audience differing', [['resource', API], ['audience', OTHER_API]]],
      ['two different audiences', [['audience', API], ['audience', OTHER_API]]],
      ['no resource nor audience', []],
      ['an empty resource', [['resource', '']]],
      ['a relative resource', [['resource', '/invoices']]],
      ['a resource without a scheme', [['resource', 'api.example.com']]],
      ['a resource with a fragment', [['resource', `${API}#frag`]]],
      ['a resource the agent is not entitled to', [['resource', 'https://unknown.example.com']]],
      ['an audience the agent is not entitled to (admin)', [['audience', ADMIN_AUD]]],
    ];
    it.each(cases)('%s → 400 invalid_target', async (_name, targets) => {
      await refused(() => cc(form([['grant_type', CC], ...targets, ['scope', 'invoices:read']])), 400, 'invalid_target');
    });

    it("a resource entitled to another agent but not to this one → 400 invalid_target (leaf-agent at OTHER_API)", async () => {
      const res = await refused(() => cc(form([['grant_type', CC], ['resource', OTHER_API], ['scope', 'reports:read']]), 'leaf-agent'), 400, 'invalid_target');
      expect(res.body.error).toBe('invalid_target');
      expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', agent: 'leaf-agent', grant: CC, error: 'invalid_target' });
    });
  });

  describe('scope and grant_type', () => {
    // An empty scope is an absent one (RFC 6749 §3.2): see test/integration/grant-types.test.ts.
    it('scope of only spaces → 400 invalid_request', async () => {
      await refused(() => cc(form([['grant_type', CC], ['resource', API], ['scope', '   ']])), 400, 'invalid_request');
    });

    it.each([
      ['a scope nobody offers', 'billing-agent', API, 'invoices:delete'],
      ["a scope of another audience", 'billing-agent', API, 'reports:read'],
      ['write for a read-only agent', 'leaf-agent', API, 'invoices:write'],
      ['sessions:kill for a read-only admin', 'reader-admin', ADMIN_AUD, 'sessions:kill'],
    ])('%s → 400 invalid_scope', async (_name, agent, target, scope) => {
      await refused(() => cc(form([['grant_type', CC], ['audience', target], ['scope', scope]]), agent), 400, 'invalid_scope');
      expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', agent, grant: CC, error: 'invalid_scope' });
    });

    // RFC 6749 §3.3: a default when scope is absent, a narrower grant when it is wider; never wider.
    it('scope absent → 200 with the whole entitlement at that audience, named in the response and the token', async () => {
      const r = await cc(form([['grant_type', CC], ['resource', API]]));
      expect(r.status).toBe(200);
      expect(r.body.scope).toBe('invoices:read invoices:write');
      expect(claims(r.body.access_token as string)).toMatchObject({ aud: API, scope: 'invoices:read invoices:write' });
      const leaf = await cc(form([['grant_type', CC], ['resource', API]]), 'leaf-agent');
      expect(leaf.body.scope).toBe('invoices:read');
      expect(claims(leaf.body.access_token as string).scope).toBe('invoices:read');
    });

    it.each([
      ['one entitled and one of another audience', 'billing-agent', 'invoices:read reports:read', 'invoices:read'],
      ['read and write for a read-only agent', 'leaf-agent', 'invoices:read invoices:write', 'invoices:read'],
      ['one entitled and one nobody offers', 'billing-agent', 'invoices:delete invoices:write', 'invoices:write'],
    ])('scope wider than the entitlement (%s) → 200 with only the entitled part, said in the response', async (_name, agent, scope, granted) => {
      const r = await cc(form([['grant_type', CC], ['resource', API], ['scope', scope]]), agent);
      expect(r.status).toBe(200);
      expect(r.body.scope).toBe(granted);
      expect(claims(r.body.access_token as string).scope).toBe(granted);
      const live = await introspect(sts, r.body.access_token as string);
      expect(live.body).toMatchObject({ active: true, scope: granted });
    });

    it.each(['password', 'authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:saml2-bearer', 'CLIENT_CREDENTIALS'])(
      'grant_type=%s → 400 unsupported_grant_type',
      async (grant) => {
        await refused(() => cc(form([['grant_type', grant], ['resource', API], ['scope', 'invoices:read']])), 400, 'unsupported_grant_type');
      },
    );

    it('missing grant_type → 400 invalid_request', async () => {
      await refused(() => cc(form([['resource', API], ['scope', 'invoices:read']])), 400, 'invalid_request');
    });
  });

  describe('malformed requests: invalid_request, never a 500 or a stack trace', () => {
    const good = form([['grant_type', CC], ['resource', API], ['scope', 'invoices:read']]);

    it('GET /token (even with valid parameters in the query) → 400 invalid_request', async () => {
      await refused(() => request(sts.app).get(`/token?${good}`).set('Authorization', basic('billing-agent')), 400, 'invalid_request');
      await refused(() => request(sts.app).get('/token').set('Authorization', basic('billing-agent')), 400, 'invalid_request');
    });

    it('PUT /token with a valid form → 400 invalid_request', async () => {
      await refused(() => request(sts.app).put('/token').set('Authorization', basic('billing-agent')).type('form').send(good), 400, 'invalid_request');
    });

    it('a JSON body → 400 invalid_request', async () => {
      await refused(
        () => post().set('Authorization', basic('billing-agent')).type('json').send({ grant_type: CC, resource: API, scope: 'invoices:read' }),
        400, 'invalid_request',
      );
    });

    it('a text/plain body or no content type → 400 invalid_request', async () => {
      await refused(() => post().set('Authorization', basic('billing-agent')).set('Content-Type', 'text/plain').send(good), 400, 'invalid_request');
      await refused(() => post().set('Authorization', basic('billing-agent')).send(Buffer.from(good)), 400, 'invalid_request');
    });

    it('parameters in the query string → 400 invalid_request (even alongside a valid form body)', async () => {
      await refused(() => request(sts.app).post(`/token?${good}`).set('Authorization', basic('billing-agent')).type('form').send(good), 400, 'invalid_request');
      await refused(() => request(sts.app).post('/token?scope=invoices:write').set('Authorization', basic('billing-agent')).type('form').send(good), 400, 'invalid_request');
    });

    it.each([
      ['scope twice', [['grant_type', CC], ['resource', API], ['scope', 'invoices:read'], ['scope', 'invoices:write']]],
      ['scope twice, same value', [['grant_type', CC], ['resource', API], ['scope', 'invoices:read'], ['scope', 'invoices:read']]],
      ['grant_type twice, same value', [['grant_type', CC], ['grant_type', CC], ['resource', API], ['scope', 'invoices:read']]],
      ['grant_type twice, different values', [['grant_type', CC], ['grant_type', 'password'], ['resource', API], ['scope', 'invoices:read']]],
      ['client_id twice', [['grant_type', CC], ['client_id', 'billing-agent'], ['client_id', 'billing-agent'], ['resource', API], ['scope', 'invoices:read']]],
    ] as [string, [string, string][]][])('a repeated parameter (%s) → 400 invalid_request', async (_name, pairs) => {
      await refused(() => cc(form(pairs)), 400, 'invalid_request');
    });

    it('a body over 64kb → 413 invalid_request', async () => {
      const big = `${good}&pad=${'a'.repeat(70_000)}`;
      await refused(() => cc(big), 413, 'invalid_request', 'no-event');
    });

    it('garbage bytes as a form body → 400 invalid_request', async () => {
      const garbage = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 37 + 11) % 256));
      await refused(() => post().set('Authorization', basic('billing-agent')).type('form').send(garbage), 400, 'invalid_request');
    });

    it('any Content-Encoding (gzip included, valid or not) → 415 invalid_request (not 500): token requests are not compressed', async () => {
      const garbage = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 53 + 7) % 256));
      await refused(
        () => post().set('Authorization', basic('billing-agent')).type('form').set('Content-Encoding', 'gzip').send(garbage),
        415, 'invalid_request', 'no-event',
      );
      const real = gzipSync(Buffer.from(good));
      await refused(
        () => post().set('Authorization', basic('billing-agent')).type('form').set('Content-Encoding', 'gzip').send(real),
        415, 'invalid_request', 'no-event',
      );
    });

    it('an unknown Content-Encoding or charset → 415 invalid_request', async () => {
      await refused(() => cc(good).set('Content-Encoding', 'x-bogus'), 415, 'invalid_request', 'no-event');
      await refused(
        () => post().set('Authorization', basic('billing-agent')).set('Content-Type', 'application/x-www-form-urlencoded; charset=x-bogus').send(good),
        415, 'invalid_request', 'no-event',
      );
    });

    it('a percent-encoded body is decoded once (grant_type=client%5Fcredentials works; %2B is a plus)', async () => {
      const r = await cc(`grant_type=client%5Fcredentials&resource=${encodeURIComponent(API)}&scope=invoices%3Aread`);
      expect(r.status).toBe(200);
      await refused(() => cc(`grant_type=client%2Bcredentials&resource=${encodeURIComponent(API)}&scope=invoices%3Aread`), 400, 'unsupported_grant_type');
    });
  });
});
