import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { type Res } from '../helpers/attack.js';
import { adminToken, API, claims, clientCredentials, introspect, startSts, type TestSts, snapshot } from '../helpers/sts.js';
import { expectRefused } from '../helpers/responses.js';

/**
 * The admin API against cross-site requests. A browser can send a "simple" cross-site request
 * (GET, or POST with text/plain, a form or multipart) with cookies but without an Authorization
 * header; anything else needs a CORS preflight. So: the admin token is accepted from the
 * Authorization header only (never a cookie, the query string or a form field), CSRF-shaped POSTs
 * are refused even with a valid token, and no response ever grants CORS access.
 */

const EVIL = 'https://evil.example';

/** Every Access-Control-* header a response carries. */
const corsHeaders = (res: Res) => Object.keys(res.headers).filter((h) => h.toLowerCase().startsWith('access-control-'));

describe('admin API: cross-site requests', () => {
  let sts: TestSts;
  let admin: string;
  let target: string;

  beforeAll(async () => {
    sts = await startSts();
    admin = await adminToken(sts);
    target = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  const killAll = () => request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Origin', EVIL);
  const killOne = () => request(sts.app).delete(`/admin/sessions/${claims(target).sid as string}`).set('Origin', EVIL);

  /** Refused with `status`/`error`, nothing killed, and no CORS grant on the refusal either. */
  async function refused(send: () => PromiseLike<Res>, status: number, error: string): Promise<Res> {
    const res = await expectRefused(sts, send, status, error, { events: 'none' });
    expect(corsHeaders(res)).toEqual([]);
    expect((await introspect(sts, target)).body.active).toBe(true);
    return res;
  }

  describe('the admin token is taken from the Authorization header only', () => {
    it('in a cookie (what a cross-site form would carry) → 401 invalid_token, nothing killed', async () => {
      await refused(() => killAll().set('Cookie', `access_token=${admin}; token=${admin}; Authorization=Bearer%20${admin}`).set('Content-Type', 'text/plain').send('x'), 401, 'invalid_token');
      await refused(() => killOne().set('Cookie', `access_token=${admin}`), 401, 'invalid_token');
    });

    it('in the query string (?access_token=, RFC 6750 §2.3) → 401 invalid_token: a link or an <img> cannot kill or read', async () => {
      await refused(() => request(sts.app).post(`/admin/agents/billing-agent/revoke-sessions?access_token=${admin}`).set('Origin', EVIL), 401, 'invalid_token');
      await refused(() => request(sts.app).delete(`/admin/sessions/${claims(target).sid as string}?access_token=${admin}`), 401, 'invalid_token');
      await refused(() => request(sts.app).get(`/admin/sessions?access_token=${admin}`), 401, 'invalid_token');
    });

    it('in a form body field (access_token=, RFC 6750 §2.2: a cross-site form POST) → refused, nothing killed', async () => {
      const res = await expectRefused(sts, () => killAll().type('form').send({ access_token: admin }), 401, 'invalid_token', { events: 'none' });
      expect(corsHeaders(res)).toEqual([]);
      expect((await introspect(sts, target)).body.active).toBe(true);
    });
  });

  describe('CSRF-shaped bodies with a valid token → 415, nothing killed', () => {
    it.each([
      'TEXT/PLAIN',
      'text/plain; charset=utf-8',
      'text/plain;application/json',
      'Application/X-WWW-Form-Urlencoded',
      'application/x-www-form-urlencoded; charset=UTF-8',
      'multipart/form-data; boundary=----x',
      'application/xml',
    ])('Content-Type %s from Origin evil.example', async (type) => {
      const res = await refused(() => killAll().set('Authorization', `Bearer ${admin}`).set('Content-Type', type).send('{"a":1}'), 415, 'invalid_request');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('the same from Origin: null (a sandboxed frame) → 415', async () => {
      await refused(() => killAll().set('Origin', 'null').set('Authorization', `Bearer ${admin}`).set('Content-Type', 'text/plain').send('x'), 415, 'invalid_request');
    });
  });

  describe('no response grants CORS access', () => {
    it('preflights for every admin route and method, from evil.example and from null: no Access-Control-* header at all', async () => {
      const paths = ['/admin/sessions', `/admin/sessions/${claims(target).sid as string}`, '/admin/agents/billing-agent/revoke-sessions'];
      const before = await snapshot(sts);
      for (const origin of [EVIL, 'null']) {
        for (const path of paths) {
          for (const method of ['GET', 'DELETE', 'POST']) {
            const res = await request(sts.app).options(path).set('Origin', origin).set('Access-Control-Request-Method', method)
              .set('Access-Control-Request-Headers', 'authorization, content-type');
            expect({ path, method, cors: corsHeaders(res) }).toEqual({ path, method, cors: [] });
          }
        }
      }
      expect(await snapshot(sts)).toEqual(before);
    });

    it('successful admin responses to a request from evil.example carry no Access-Control-* header (a stolen-token page cannot read them)', async () => {
      const list = await request(sts.app).get('/admin/sessions').set('Origin', EVIL).set('Authorization', `Bearer ${admin}`);
      const tree = await request(sts.app).get(`/admin/sessions/${claims(target).sid as string}`).set('Origin', EVIL).set('Authorization', `Bearer ${admin}`);
      expect([list.status, tree.status]).toEqual([200, 200]);
      expect([...corsHeaders(list), ...corsHeaders(tree)]).toEqual([]);
    });
  });

  it('a correctly formed kill (Authorization header, no body) still works: the refusals above were not a broken endpoint', async () => {
    // Its own session to kill: the target the other tests protect stays alive whatever runs after.
    const victim = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const res = await request(sts.app).delete(`/admin/sessions/${claims(victim).sid as string}`).set('Authorization', `Bearer ${admin}`);
    expect(res.body).toEqual({ revoked: 1 });
    expect((await introspect(sts, victim)).body).toEqual({ active: false });
    expect((await introspect(sts, target)).body.active).toBe(true);
  });
});
