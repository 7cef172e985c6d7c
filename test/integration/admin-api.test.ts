import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import {
  ADMIN_AUD, adminToken, API, basic, clientCredentials, exchange, introspect, snapshot, startSts, tombstones, type TestSts,
} from '../helpers/sts.js';
import { ANY_ISO_TIME, ok, sidOf } from '../helpers/responses.js';

/**
 * The admin API against real Redis: listing and filtering live sessions, one session's tree, and
 * the Bearer protection (a live admin-audience token with the right scope, 401/403 otherwise),
 * plus the CSRF-shaped request refusal and the absence of CORS.
 */

/** A whole second a little ahead of real time: Redis expiries (PEXPIREAT) stay in the future. */
const T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;
const T0_S = T0 / 1000;
const iso = (s: number) => new Date(s * 1000).toISOString();

type Res = request.Response;

describe('admin API: listing and reading sessions', () => {
  let sts: TestSts;
  let now = T0;
  // At T0: A (admin, exp +300), Rd (reader-admin, +300), R (billing root, +300), LR (leaf root, +60).
  // At T0+10: S = sub-agent from R (+130). At T0+20: L = leaf-agent from S (+80).
  let A: string, Rd: string, R: string, LR: string, S: string, L: string;

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
    A = await adminToken(sts);
    Rd = await adminToken(sts, 'reader-admin', 'sessions:read');
    R = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    LR = (await clientCredentials(sts, 'leaf-agent', API, 'invoices:read')).access_token;
    now = T0 + 10_000;
    S = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read invoices:write'));
    now = T0 + 20_000;
    L = await ok(exchange(sts, 'leaf-agent', S, API, 'invoices:read'));
  });
  afterAll(async () => {
    await sts.close();
  });
  beforeEach(() => {
    now = T0 + 20_000;
  });

  const get = (path: string, token = A) => request(sts.app).get(path).set('Authorization', `Bearer ${token}`);
  const sids = (res: Res) => (res.body.sessions as { sid: string }[]).map((s) => s.sid);

  it('GET /admin/sessions lists every live session, soonest-expiring first; no-store', async () => {
    const res = await get('/admin/sessions');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(Object.keys(res.body)).toEqual(['sessions']);
    expect(sids(res).slice(0, 3)).toEqual([sidOf(LR), sidOf(L), sidOf(S)]);
    expect(sids(res).sort()).toEqual([A, Rd, R, LR, S, L].map(sidOf).sort());
    const expires = (res.body.sessions as { expires: string }[]).map((s) => s.expires);
    expect([...expires].sort()).toEqual(expires);
  });

  it('each session has exactly sid parent depth agent sub act aud scope created expires, times as ISO strings', async () => {
    const res = await get('/admin/sessions');
    const bySid = new Map((res.body.sessions as { sid: string }[]).map((s) => [s.sid, s]));
    expect(bySid.get(sidOf(L))).toEqual({
      sid: sidOf(L), parent: sidOf(S), depth: 2, agent: 'leaf-agent', sub: 'billing-agent',
      act: { sub: 'leaf-agent', act: { sub: 'sub-agent' } }, aud: API, scope: 'invoices:read',
      created: iso(T0_S + 20), expires: iso(T0_S + 80),
    });
    expect(bySid.get(sidOf(R))).toEqual({
      sid: sidOf(R), parent: null, depth: 0, agent: 'billing-agent', sub: 'billing-agent', act: null, aud: API,
      scope: 'invoices:read invoices:write', created: iso(T0_S), expires: iso(T0_S + 300),
    });
    expect(bySid.get(sidOf(A))).toMatchObject({ agent: 'admin', aud: ADMIN_AUD, scope: 'sessions:read sessions:kill', parent: null });
  });

  it('?agent= lists the sessions of that agent', async () => {
    expect(sids(await get('/admin/sessions?agent=leaf-agent'))).toEqual([sidOf(LR), sidOf(L)]);
    expect(sids(await get('/admin/sessions?agent=billing-agent'))).toEqual([sidOf(R)]);
    expect(sids(await get('/admin/sessions?agent=admin'))).toEqual([sidOf(A)]);
    expect(sids(await get('/admin/sessions?agent=nobody'))).toEqual([]);
  });

  it('?agent= of an agent that acts in a delegated session lists that session too (what an agent-wide kill reaches)', async () => {
    const res = await get('/admin/sessions?agent=sub-agent');
    expect(sids(res)).toEqual([sidOf(L), sidOf(S)]);
  });

  it('?sub= lists the sessions of that subject, across agents', async () => {
    expect(sids(await get('/admin/sessions?sub=billing-agent'))).toEqual([sidOf(L), sidOf(S), sidOf(R)]);
    expect(sids(await get('/admin/sessions?sub=leaf-agent'))).toEqual([sidOf(LR)]);
  });

  it('?agent= and ?sub= together: the intersection', async () => {
    expect(sids(await get('/admin/sessions?agent=leaf-agent&sub=billing-agent'))).toEqual([sidOf(L)]);
    expect(sids(await get('/admin/sessions?agent=leaf-agent&sub=leaf-agent'))).toEqual([sidOf(LR)]);
  });

  it('?agent=&sub=&limit=1: the limit applies to the intersection, not before it', async () => {
    // leaf-agent's soonest-expiring session is LR (sub leaf-agent); the first one of sub billing-agent is L.
    expect(sids(await get('/admin/sessions?agent=leaf-agent&sub=billing-agent&limit=1'))).toEqual([sidOf(L)]);
  });

  it('?limit= caps the list, soonest-expiring first; 1000 is accepted', async () => {
    expect(sids(await get('/admin/sessions?limit=1'))).toEqual([sidOf(LR)]);
    expect(sids(await get('/admin/sessions?limit=2'))).toEqual([sidOf(LR), sidOf(L)]);
    expect(sids(await get('/admin/sessions?sub=billing-agent&limit=2'))).toEqual([sidOf(L), sidOf(S)]);
    expect((await get('/admin/sessions?limit=1000')).status).toBe(200);
  });

  it('?order=latest_expiry: latest-expiring first, the limit keeping those; soonest_expiry is the default', async () => {
    const latest = await get('/admin/sessions?order=latest_expiry');
    const expires = (latest.body.sessions as { expires: string }[]).map((s) => s.expires);
    expect([...expires].sort().reverse()).toEqual(expires);
    expect(sids(latest).sort()).toEqual(sids(await get('/admin/sessions')).sort());
    expect(sids(await get('/admin/sessions?order=latest_expiry&limit=1'))).toEqual([sids(latest)[0]]);
    expect(sids(await get('/admin/sessions?agent=leaf-agent&order=latest_expiry'))).toEqual([sidOf(L), sidOf(LR)]);
    expect(sids(await get('/admin/sessions?order=soonest_expiry'))).toEqual(sids(await get('/admin/sessions')));
  });

  it.each(['newest', 'LATEST_EXPIRY', ''])('?order=%s → 400 naming the parameter and its values', async (order) => {
    const res = await get(`/admin/sessions?order=${order}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/^query parameter 'order' /);
  });

  it.each(['0', 'abc', '-1', '1.5', '1001', ''])('?limit=%s → 400 invalid_request', async (limit) => {
    const res = await get(`/admin/sessions?limit=${limit}`);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
  });

  it('a repeated filter (?agent=a&agent=b) → 400 invalid_request', async () => {
    const res = await get('/admin/sessions?agent=leaf-agent&agent=billing-agent');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
  });

  it('expired sessions are not listed (fake clock past L and LR)', async () => {
    now = T0 + 90_000;
    const res = await get('/admin/sessions');
    expect(sids(res)).not.toContain(sidOf(L));
    expect(sids(res)).not.toContain(sidOf(LR));
    expect(sids(res)).toContain(sidOf(S));
  });

  it('GET /admin/sessions/:sid returns the session with its children tree, nested', async () => {
    const res = await get(`/admin/sessions/${sidOf(R)}`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      sid: sidOf(R), parent: null, depth: 0, agent: 'billing-agent', sub: 'billing-agent', act: null, aud: API,
      scope: 'invoices:read invoices:write', created: iso(T0_S), expires: iso(T0_S + 300),
      children: [{
        sid: sidOf(S), parent: sidOf(R), depth: 1, agent: 'sub-agent', sub: 'billing-agent', act: { sub: 'sub-agent' }, aud: API,
        scope: 'invoices:read invoices:write', created: iso(T0_S + 10), expires: iso(T0_S + 130),
        children: [{
          sid: sidOf(L), parent: sidOf(S), depth: 2, agent: 'leaf-agent', sub: 'billing-agent',
          act: { sub: 'leaf-agent', act: { sub: 'sub-agent' } }, aud: API, scope: 'invoices:read',
          created: iso(T0_S + 20), expires: iso(T0_S + 80), children: [],
        }],
      }],
    });
  });

  it('GET /admin/sessions/:sid of a middle session: the subtree from there, its parent named', async () => {
    const res = await get(`/admin/sessions/${sidOf(S)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sid: sidOf(S), parent: sidOf(R), children: [{ sid: sidOf(L), children: [] }] });
  });

  it('an unknown sid → 404; a reader-admin may read a tree', async () => {
    const res = await get('/admin/sessions/AAAAAAAAAAAAAAAAAAAAAA');
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('not_found');
    const reader = await get(`/admin/sessions/${sidOf(S)}`, Rd);
    expect(reader.status).toBe(200);
  });

  it('an expired sid → 404', async () => {
    now = T0 + 81_000;
    expect((await get(`/admin/sessions/${sidOf(L)}`)).status).toBe(404);
    // S is still live; its expired child is left out of its tree.
    const s = await get(`/admin/sessions/${sidOf(S)}`);
    expect(s.status).toBe(200);
    expect(s.body.children).toEqual([]);
  });
});

describe('admin API: authentication and authorization', () => {
  let sts: TestSts;
  let now = T0;
  let admin: string;
  let reader: string;
  let target: string;

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
    admin = await adminToken(sts);
    reader = await adminToken(sts, 'reader-admin', 'sessions:read');
    target = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });
  beforeEach(() => {
    now = T0;
  });

  const list = () => request(sts.app).get('/admin/sessions');
  const bearer = (token: string) => `Bearer ${token}`;

  /** 401 invalid_token with a Bearer challenge, and nothing changed in Redis. */
  async function unauthorized(send: () => PromiseLike<Res>): Promise<Res> {
    const before = await snapshot(sts);
    const res = await send();
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_token' });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(await snapshot(sts)).toEqual(before);
    return res;
  }

  it('no token → 401 with a WWW-Authenticate Bearer challenge', async () => {
    const res = await list();
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="agent-sts"/);
  });

  it('no credentials, or another scheme (Basic, even the admin’s own client secret): 401 with a Bearer challenge carrying no error code (RFC 6750 §3.1)', async () => {
    const before = await snapshot(sts);
    for (const res of [
      await list(),
      await list().set('Authorization', basic('admin')),
      await request(sts.app).delete(`/admin/sessions/${sidOf(target)}`).set('Authorization', basic('admin')),
    ]) {
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="agent-sts"/);
      expect(res.headers['www-authenticate']).not.toMatch(/error=/);
    }
    expect(await snapshot(sts)).toEqual(before);
    expect((await introspect(sts, target)).body.active).toBe(true);
  });

  it('a garbage or unknown Bearer token → 401 invalid_token', async () => {
    await unauthorized(() => list().set('Authorization', bearer('garbage')));
    await unauthorized(() => list().set('Authorization', bearer('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')));
    await unauthorized(() => request(sts.app).delete(`/admin/sessions/${sidOf(target)}`).set('Authorization', bearer('garbage')));
    expect((await introspect(sts, target)).body.active).toBe(true);
  });

  it('an API token (non-admin audience) → 401, for reads and kills, and the target survives', async () => {
    await unauthorized(() => list().set('Authorization', bearer(target)));
    await unauthorized(() => request(sts.app).delete(`/admin/sessions/${sidOf(target)}`).set('Authorization', bearer(target)));
    await unauthorized(() => request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Authorization', bearer(target)));
    expect((await introspect(sts, target)).body.active).toBe(true);
  });

  it('a killed admin token → 401 (the admin kills its own session, then tries again)', async () => {
    const doomed = await adminToken(sts);
    expect((await list().set('Authorization', bearer(doomed))).status).toBe(200);
    const kill = await request(sts.app).delete(`/admin/sessions/${sidOf(doomed)}`).set('Authorization', bearer(doomed));
    expect(kill.status).toBe(200);
    expect(kill.body).toEqual({ revoked: 1 });
    await unauthorized(() => list().set('Authorization', bearer(doomed)));
    await unauthorized(() => request(sts.app).delete(`/admin/sessions/${sidOf(target)}`).set('Authorization', bearer(doomed)));
    expect((await introspect(sts, target)).body.active).toBe(true);
  });

  it('an admin token revoked through /revoke by its holder → 401; its session and index entries are gone, nothing else written', async () => {
    const before = await snapshot(sts);
    const doomed = await adminToken(sts);
    expect(JSON.stringify(await snapshot(sts))).toContain(sidOf(doomed));
    const rev = await request(sts.app).post('/revoke').set('Authorization', basic('admin')).type('form').send({ token: doomed });
    expect(rev.status).toBe(200);
    expect(await snapshot(sts)).toEqual(before);
    expect(await tombstones(sts)).toContain(sts.keys!.revoked(sidOf(doomed)));
    await unauthorized(() => list().set('Authorization', bearer(doomed)));
  });

  it('an expired admin token (fake clock) → 401', async () => {
    now = T0 + 300_000;
    await unauthorized(() => list().set('Authorization', bearer(admin)));
  });

  it('reader-admin (sessions:read only): GET → 200, DELETE and revoke-sessions → 403 insufficient_scope, nothing killed', async () => {
    expect((await list().set('Authorization', bearer(reader))).status).toBe(200);
    expect((await request(sts.app).get(`/admin/sessions/${sidOf(target)}`).set('Authorization', bearer(reader))).status).toBe(200);
    const before = await snapshot(sts);
    const del = await request(sts.app).delete(`/admin/sessions/${sidOf(target)}`).set('Authorization', bearer(reader));
    expect({ status: del.status, error: del.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
    expect(del.headers['www-authenticate']).toMatch(/^Bearer .*error="insufficient_scope"/);
    const all = await request(sts.app).post('/admin/agents/billing-agent/revoke-sessions').set('Authorization', bearer(reader));
    expect({ status: all.status, error: all.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
    expect(await snapshot(sts)).toEqual(before);
    expect((await introspect(sts, target)).body.active).toBe(true);
  });

  it('an admin token holding only sessions:kill: GET → 403 insufficient_scope', async () => {
    const killer = await adminToken(sts, 'admin', 'sessions:kill');
    const res = await list().set('Authorization', bearer(killer));
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'POST revoke-sessions with Content-Type %s → 415, nothing killed',
    async (type) => {
      const before = await snapshot(sts);
      const res = await request(sts.app).post('/admin/agents/billing-agent/revoke-sessions')
        .set('Authorization', bearer(admin)).set('Content-Type', type).send(type.startsWith('multipart') ? '--x--' : 'a=b');
      expect(res.status).toBe(415);
      expect(res.body.error).toBe('invalid_request');
      expect(await snapshot(sts)).toEqual(before);
      expect((await introspect(sts, target)).body.active).toBe(true);
    },
  );

  it('POST revoke-sessions with application/json or no body → 200', async () => {
    const json = await request(sts.app).post('/admin/agents/outsider-agent/revoke-sessions').set('Authorization', bearer(admin)).send({});
    expect(json.status).toBe(200);
    expect(json.body).toEqual({ revoked: 0 });
    const empty = await request(sts.app).post('/admin/agents/outsider-agent/revoke-sessions').set('Authorization', bearer(admin));
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ revoked: 0 });
  });

  it('no Access-Control-Allow-Origin on admin responses (success, error, preflight)', async () => {
    const origin = 'https://evil.example';
    const responses = [
      await list().set('Origin', origin).set('Authorization', bearer(admin)),
      await list().set('Origin', origin),
      await request(sts.app).delete(`/admin/sessions/nope`).set('Origin', origin).set('Authorization', bearer(admin)),
      await request(sts.app).options('/admin/sessions').set('Origin', origin).set('Access-Control-Request-Method', 'DELETE')
        .set('Access-Control-Request-Headers', 'authorization'),
      await request(sts.app).options('/admin/agents/billing-agent/revoke-sessions').set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST').set('Access-Control-Request-Headers', 'authorization, content-type'),
    ];
    expect(responses[0]!.status).toBe(200);
    for (const res of responses) {
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      expect(res.headers['access-control-allow-methods']).toBeUndefined();
      expect(res.headers['access-control-allow-headers']).toBeUndefined();
    }
    expect((await introspect(sts, target)).body.active).toBe(true);
  });

  it('the admin kills a session with DELETE: {"revoked":1}, then {"revoked":0}; a session.revoked event by admin', async () => {
    // Its own victim: the target the other tests protect stays alive whatever runs after.
    const victim = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const n = sts.events.events.length;
    const first = await request(sts.app).delete(`/admin/sessions/${sidOf(victim)}`).set('Authorization', bearer(admin)).set('X-Request-Id', 'kill-1');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ revoked: 1 });
    const again = await request(sts.app).delete(`/admin/sessions/${sidOf(victim)}`).set('Authorization', bearer(admin));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ revoked: 0 });
    expect((await introspect(sts, victim)).body).toEqual({ active: false });
    const requested = (requestId: string) => ({
      type: 'revocation.requested', time: ANY_ISO_TIME, requestId, actor: 'admin', adminSid: sidOf(admin), of: 'session', sid: sidOf(victim), by: 'admin', reason: 'admin',
    });
    expect(sts.events.events.slice(n)).toEqual([
      requested('kill-1'),
      {
        type: 'session.revoked', time: ANY_ISO_TIME, requestId: 'kill-1', actor: 'admin', adminSid: sidOf(admin),
        sid: sidOf(victim), revoked: 1, sessions: [{ sid: sidOf(victim), aud: API, agent: 'billing-agent', sub: 'billing-agent', exp: expect.any(Number) }], by: 'admin', reason: 'admin',
      },
      requested(again.headers['x-request-id'] as string),
      {
        type: 'session.revoked', time: ANY_ISO_TIME, requestId: again.headers['x-request-id'], actor: 'admin', adminSid: sidOf(admin),
        sid: sidOf(victim), revoked: 0, sessions: [], by: 'admin', reason: 'admin',
      },
      expect.objectContaining({ type: 'token.used_after_revocation', endpoint: 'introspect', sid: sidOf(victim) }),
    ]);
    expect((await introspect(sts, target)).body.active).toBe(true);
  });
});
