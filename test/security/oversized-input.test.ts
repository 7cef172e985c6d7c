import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { expectInactiveUnchanged, type Res } from '../helpers/attack.js';
import { adminToken, API, basic, clientCredentials, EXCHANGE, AT_TYPE, introspect, startSts, type TestSts, snapshot } from '../helpers/sts.js';
import { expectRefused } from '../helpers/responses.js';

/**
 * Oversized and pathological input: 1 MB tokens and bodies are cut off by the 64 KB form limit
 * (413, before any parsing or store access), tokens just under the limit are refused without being
 * parsed (MAX_TOKEN_LENGTH), a gzip bomb is never inflated (415), 1 MB headers are refused by Node
 * (431), deeply nested JSON never reaches a JSON parser that could blow the stack, and after all of
 * it the process still serves.
 */

const MB = 1024 * 1024;
const TOO_LARGE = '{"error":"invalid_request","error_description":"request body too large"}';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A JWT-shaped string of about `n` bytes: it looks like a token to anything that only splits on dots. */
const jwtShaped = (n: number) => `eyJhbGciOiJFUzI1NiJ9.${'A'.repeat(n)}.sig`;

describe('oversized and pathological input', () => {
  let sts: TestSts;
  let live: string;
  let admin: string;

  beforeAll(async () => {
    sts = await startSts();
    live = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    await sts.close();
  });

  const post = (path: string) => request(sts.app).post(path);
  const asAgent = (path = '/token') => post(path).set('Authorization', basic('billing-agent')).type('form');

  /** The process still answers normally: a fresh grant, and the live token introspects active. */
  async function stillServing(): Promise<void> {
    expect((await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).token_type).toBe('Bearer');
    expect((await introspect(sts, live)).body.active).toBe(true);
  }

  describe('1 MB in the body → 413 invalid_request, the exact body, nothing written, no event', () => {
    const big = jwtShaped(MB);
    const cases: [string, () => PromiseLike<Res>][] = [
      ['a 1 MB subject_token at /token', () => asAgent().send({ grant_type: EXCHANGE, subject_token: big, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read' })],
      ['a 1 MB actor_token at /token', () => asAgent().send({ grant_type: EXCHANGE, subject_token: live, subject_token_type: AT_TYPE, actor_token: big, actor_token_type: AT_TYPE, resource: API, scope: 'invoices:read' })],
      ['a 1 MB client_assertion at /token', () => post('/token').type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: big })],
      ['a 1 MB client_secret at /token', () => post('/token').type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_id: 'billing-agent', client_secret: 'x'.repeat(MB) })],
      ['a 1 MB scope at /token', () => asAgent().send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read '.repeat(MB / 14) })],
      ['a 1 MB token at /introspect', () => post('/introspect').set('Authorization', basic(API)).type('form').send({ token: big })],
      ['a 1 MB token at /revoke', () => asAgent('/revoke').send({ token: big })],
      ['a 1 MB JSON body at /token', () => post('/token').set('Authorization', basic('billing-agent')).type('json').send(JSON.stringify({ subject_token: big }))],
    ];
    it.each(cases)('%s', async (_name, send) => {
      const res = await expectRefused(sts, send, 413, 'invalid_request', { events: 'none', body: TOO_LARGE });
      expect(res.headers['pragma']).toBe('no-cache');
    });

    it('a gzip bomb (10 KB on the wire, 10 MB inflated) → 415 invalid_request: never inflated, whatever it would grow to', async () => {
      const bomb = gzipSync(Buffer.from(`grant_type=client_credentials&resource=x&scope=${'a'.repeat(10 * MB)}`));
      expect(bomb.length).toBeLessThan(64 * 1024);
      await expectRefused(sts, () => asAgent().set('Content-Encoding', 'gzip').send(bomb), 415, 'invalid_request', {
        events: 'none', body: '{"error":"invalid_request","error_description":"unsupported body encoding"}',
      });
    });

    it('the process still serves afterwards', stillServing);
  });

  describe('a 60 KB token (under the body limit, over any token agent-sts signs) is refused unparsed, with each place’s own answer', () => {
    const big = jwtShaped(60_000);
    it('as subject_token → 400 invalid_grant', async () => {
      await expectRefused(sts, () => asAgent().send({ grant_type: EXCHANGE, subject_token: big, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read' }), 400, 'invalid_grant');
    });
    it('as actor_token → 400 invalid_grant', async () => {
      await expectRefused(
        sts,
        () => asAgent().send({ grant_type: EXCHANGE, subject_token: live, subject_token_type: AT_TYPE, actor_token: big, actor_token_type: AT_TYPE, resource: API, scope: 'invoices:read' }),
        400, 'invalid_grant',
      );
    });
    it('as client_assertion → 401 invalid_client', async () => {
      await expectRefused(
        sts,
        () => post('/token').type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: big }),
        401, 'invalid_client',
      );
    });
    it('at /introspect → exactly {"active":false}', async () => {
      await expectInactiveUnchanged(sts, () => post('/introspect').set('Authorization', basic(API)).type('form').send({ token: big }));
    });
    it('at /revoke → 200, nothing revoked', async () => {
      const before = await snapshot(sts);
      const res = await asAgent('/revoke').send({ token: big });
      expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
      expect(await snapshot(sts)).toEqual(before);
    });
    it('a 60 KB scope of 5,000 distinct names → 400 invalid_scope', async () => {
      const scope = Array.from({ length: 5_000 }, (_, i) => `s${i}:x`).join(' ');
      await expectRefused(sts, () => asAgent().send({ grant_type: 'client_credentials', resource: API, scope }), 400, 'invalid_scope');
    });
  });

  describe('1 MB headers → 431 from Node’s HTTP parser, before any application code', () => {
    it.each([
      ['a 1 MB bearer token at the admin API', () => request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${jwtShaped(MB)}`)],
      ['a 1 MB Basic header at /token', () => asAgent().set('Authorization', `Basic ${'A'.repeat(MB)}`).send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' })],
    ] as [string, () => PromiseLike<Res>][])('%s', async (_name, send) => {
      const before = await snapshot(sts);
      const n = sts.events.events.length;
      const res = await send();
      expect(res.status).toBe(431);
      expect(res.text).toBe('');
      expect(sts.events.events.length).toBe(n);
      expect(await snapshot(sts)).toEqual(before);
    });

    it('the process still serves afterwards', stillServing);
  });

  describe('deeply nested JSON (100k "[") → 4xx, never 500', () => {
    const nested = '['.repeat(100_000);
    const shallowerThanLimit = '['.repeat(60_000);

    it.each([
      ['/token', 413], ['/introspect', 413], ['/revoke', 413],
    ] as [string, number][])('%s with application/json, 100k deep → 413 (the body limit cuts it off before anything parses it)', async (path, status) => {
      await expectRefused(sts, () => post(path).set('Authorization', basic(path === '/introspect' ? API : 'billing-agent')).set('Content-Type', 'application/json').send(nested),
        status, 'invalid_request', { events: 'none', body: TOO_LARGE });
    });

    it('/token with application/json, 60k deep (under the limit) → 400 invalid_request: JSON is never parsed there', async () => {
      await expectRefused(sts, () => post('/token').set('Authorization', basic('billing-agent')).set('Content-Type', 'application/json').send(shallowerThanLimit), 400, 'invalid_request');
    });

    it('/introspect with application/json, 60k deep → 400 invalid_request', async () => {
      await expectRefused(sts, () => post('/introspect').set('Authorization', basic(API)).set('Content-Type', 'application/json').send(shallowerThanLimit), 400, 'invalid_request', { events: 'none' });
    });

    it('admin API without a token: 401 invalid_token whatever the body', async () => {
      const res = await expectRefused(sts, () => post('/admin/agents/outsider-agent/revoke-sessions').set('Content-Type', 'application/json').send(nested), 401, 'invalid_token', { events: 'none' });
      expect(res.headers['www-authenticate']).toBe('Bearer realm="agent-sts"');
    });

    it('admin API with a valid kill token: a malformed 100k-deep JSON body → 4xx and the kill is NOT carried out', async () => {
      await clientCredentials(sts, 'outsider-agent', API, 'invoices:read'); // a live session the kill would reach
      const before = await snapshot(sts);
      const res = await post('/admin/agents/outsider-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`).set('Content-Type', 'application/json').send(nested);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.error).toBe('invalid_request');
      expect(await snapshot(sts)).toEqual(before);
    });

    it('admin API with a valid kill token: a 1 MB JSON body → 413 and the kill is NOT carried out', async () => {
      await clientCredentials(sts, 'outsider-agent', API, 'invoices:read'); // a live session the kill would reach
      const before = await snapshot(sts);
      const res = await post('/admin/agents/outsider-agent/revoke-sessions').set('Authorization', `Bearer ${admin}`).type('json').send(JSON.stringify({ pad: 'x'.repeat(MB) }));
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 413, error: 'invalid_request' });
      expect(await snapshot(sts)).toEqual(before);
    });

    it('the process still serves afterwards, admin API included', async () => {
      await stillServing();
      expect((await request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${admin}`)).status).toBe(200);
    });
  });
});
