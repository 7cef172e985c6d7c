import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { type Res } from '../helpers/attack.js';
import { adminToken, API, claims, clientCredentials, introspect, startSts, type TestSts, snapshot } from '../helpers/sts.js';
import { expectRefused } from '../helpers/responses.js';

/**
 * The admin API's edges (security findings 10 and 11): a kill's body is absent or exactly
 * application/json that parses; every integer query parameter (?limit=, ?days=) is a plain
 * decimal; the Bearer scheme is read as RFC 6750 §2.1 writes it; a method the API does not serve answers 405 with Allow in the JSON error shape
 * (before authentication: which methods exist is no secret), never express's default.
 */

describe('admin API edges', () => {
  let sts: TestSts;
  let admin: string;
  let auditor: string;
  let target: string;

  beforeAll(async () => {
    sts = await startSts();
    admin = await adminToken(sts);
    auditor = await adminToken(sts, 'auditor', 'audit:read agents:read');
    target = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  const bearer = () => `Bearer ${admin}`;
  const killAll = () => request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Authorization', bearer());
  const killOne = () => request(sts.app).delete(`/admin/sessions/${claims(target).sid as string}`).set('Authorization', bearer());

  /** Refused with exactly `status`/`error`, Redis unchanged (content and expiry), no event, the target still live. */
  async function refused(send: () => PromiseLike<Res>, status: number, error: string): Promise<Res> {
    const res = await expectRefused(sts, send, status, error, { events: 'none' });
    expect((await introspect(sts, target)).body.active).toBe(true);
    return res;
  }

  describe('a kill with a body needs exactly application/json, and JSON that parses', () => {
    it.each([
      ['application/json-patch+json', 'not json'],
      ['application/json-patch+json', '{}'],
      ['application/jsonx', '{}'],
      ['application/json-seq', '{}'],
      ['application/merge-patch+json', '{}'],
    ])('Content-Type %s with body %s → 415, nothing killed', async (type, body) => {
      const res = await refused(() => killAll().set('Content-Type', type).send(body), 415, 'invalid_request');
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'send application/json or no body' });
      await refused(() => killOne().set('Content-Type', type).send(body), 415, 'invalid_request');
    });

    it('a body without any Content-Type → 415, nothing killed', async () => {
      for (const kill of [killAll, killOne]) {
        const res = await refused(() => kill().send('x').unset('Content-Type'), 415, 'invalid_request');
        expect(res.body).toEqual({ error: 'invalid_request', error_description: 'send application/json or no body' });
      }
    });

    it('application/json whose body does not parse → 400, nothing killed (on both kills)', async () => {
      await refused(() => killAll().set('Content-Type', 'application/json').send('not json'), 400, 'invalid_request');
      await refused(() => killOne().set('Content-Type', 'application/json; charset=utf-8').send('{"a":'), 400, 'invalid_request');
    });
  });

  describe('?limit= at /admin/sessions caps the list', () => {
    it('limit=1 and limit=1000 are accepted', async () => {
      const one = await request(sts.app).get('/admin/sessions?limit=1').set('Authorization', bearer());
      const most = await request(sts.app).get('/admin/sessions?limit=1000').set('Authorization', bearer());
      expect([one.status, most.status]).toEqual([200, 200]);
      expect(one.body.sessions).toHaveLength(1);
    });
  });

  describe('every integer query parameter of the admin API: one parser, one answer', () => {
    const MALFORMED = ['1e3', '0x10', ' 5', '5 ', '5.0', '0b11', '0o7', '+5', '05', '0', '-1', '1'.repeat(400), '５', 'Infinity'];
    it.each([
      ['/admin/sessions', 'limit', 1_000, () => admin],
      ['/admin/audit', 'limit', 1_000, () => auditor],
      ['/admin/agents/billing-agent/access', 'days', 3_650, () => auditor],
      ['/admin/access-review', 'days', 3_650, () => auditor],
    ] as const)('%s?%s= is a plain decimal from 1 to %i; anything else is the same 400 naming it', async (path, name, max, token) => {
      const get = (value: string) => request(sts.app).get(`${path}?${name}=${encodeURIComponent(value)}`).set('Authorization', `Bearer ${token()}`);
      for (const value of [...MALFORMED, String(max + 1)]) {
        const res = await refused(() => get(value), 400, 'invalid_request');
        expect(res.body).toEqual({ error: 'invalid_request', error_description: `query parameter '${name}' must be an integer from 1 to ${max}` });
      }
      for (const value of ['1', String(max)]) expect((await get(value)).status).toBe(200);
    });
  });

  describe('the Bearer scheme (RFC 6750 §2.1: case-insensitive, one or more spaces)', () => {
    it.each(['Bearer  %s', 'Bearer   %s', 'bearer %s', 'BEARER %s', 'BeArEr  %s'])('%s → 200', async (shape) => {
      const before = await snapshot(sts);
      const res = await request(sts.app).get('/admin/sessions').set('Authorization', shape.replace('%s', admin));
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['sessions']);
      expect(await snapshot(sts)).toEqual(before);
    });

    it.each(['Bearer\t%s', 'Bearer %s extra', 'Bearer%s', 'Bearer %s,', 'Basic %s'])('%s → 401 invalid_token, nothing killed', async (shape) => {
      const res = await refused(() => killAll().set('Authorization', shape.replace('%s', admin)), 401, 'invalid_token');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="agent-sts"/);
    });
  });

  describe('a method the admin API does not serve → 405 with Allow, in the JSON error shape', () => {
    const sid = () => claims(target).sid as string;
    const cases: [string, string, string][] = [
      ['OPTIONS', '/admin/sessions', 'GET, HEAD'],
      ['PUT', '/admin/sessions', 'GET, HEAD'],
      ['POST', '/admin/sessions', 'GET, HEAD'],
      ['DELETE', '/admin/sessions', 'GET, HEAD'],
      ['OPTIONS', '/admin/sessions/:sid', 'GET, HEAD, DELETE'],
      ['PATCH', '/admin/sessions/:sid', 'GET, HEAD, DELETE'],
      ['POST', '/admin/sessions/:sid', 'GET, HEAD, DELETE'],
      ['OPTIONS', '/admin/agents/billing-agent/revoke-sessions', 'POST'],
      ['GET', '/admin/agents/billing-agent/revoke-sessions', 'POST'],
      ['DELETE', '/admin/agents/billing-agent/revoke-sessions', 'POST'],
    ];
    it.each(cases)('%s %s without a token', async (method, path, allow) => {
      const send = () => request(sts.app)[method.toLowerCase() as 'get'](path.replace(':sid', sid()));
      const res = await refused(send, 405, 'invalid_request');
      expect(res.headers.allow).toBe(allow);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'method not allowed' });
    });

    it('the same with a valid kill token: still 405, nothing killed', async () => {
      const res = await refused(() => request(sts.app).put(`/admin/sessions/${sid()}`).set('Authorization', bearer()), 405, 'invalid_request');
      expect(res.headers.allow).toBe('GET, HEAD, DELETE');
    });

    it('an unknown admin path → 404 in the JSON error shape', async () => {
      const res = await refused(() => request(sts.app).options('/admin/nothing-here').set('Authorization', bearer()), 404, 'not_found');
      expect(res.body).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
    });
  });

  describe('last: the refusals above were not a broken endpoint', () => {
    it('well-formed kills still work: application/json; charset=utf-8 with a JSON body, and no body', async () => {
      expect((await killOne().set('Content-Type', 'application/json; charset=utf-8').send('{}')).body).toEqual({ revoked: 1 });
      expect((await introspect(sts, target)).body).toEqual({ active: false });
      const again = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
      expect((await killAll()).body).toEqual({ revoked: 1 });
      expect((await introspect(sts, again.access_token)).body).toEqual({ active: false });
    });
  });
});
