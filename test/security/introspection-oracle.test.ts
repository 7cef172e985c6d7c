import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { expectInactiveUnchanged, observable, unsigned } from '../helpers/attack.js';
import { INACTIVE } from '../helpers/liveness.js';
import { adminToken, API, basic, claims, clientCredentials, exchange, introspect, OTHER_API, SECRETS, startSts, type TestSts, snapshot } from '../helpers/sts.js';

/**
 * Introspection must not be an oracle: every token a resource server may not see — garbage,
 * forged, revoked, killed, expired, another audience's, another instance's — gets the same bytes
 * and the same headers (Date aside), and an unauthenticated or wrongly authenticated caller learns
 * nothing about the token it sent.
 */

/** A whole second a little ahead of real time, so Redis expiries (absolute) stay in the future. */
const T0 = (Math.floor(Date.now() / 1000) + 1) * 1000;

describe('introspection is not an oracle', () => {
  let sts: TestSts;
  let now = T0;
  let live: string;

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
    live = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  it('every token the API may not see answers the same status, bytes and headers (except Date), and changes nothing', async () => {
    const revoked = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect((await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token: revoked })).status).toBe(200);

    const killedParent = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const killedChild = (await exchange(sts, 'sub-agent', killedParent, API, 'invoices:read')).body.access_token as string;
    const admin = await adminToken(sts);
    expect((await request(sts.app).delete(`/admin/sessions/${claims(killedParent).sid as string}`).set('Authorization', `Bearer ${admin}`)).body)
      .toEqual({ revoked: 2 });

    const shortLived = (await clientCredentials(sts, 'leaf-agent', API, 'invoices:read')).access_token; // ttl 60 s
    const otherAudience = (await clientCredentials(sts, 'billing-agent', OTHER_API, 'reports:read')).access_token;
    const other = await startSts();
    let foreign: string;
    try {
      foreign = (await clientCredentials(other, 'billing-agent', API, 'invoices:read')).access_token;
    } finally {
      await other.close();
    }

    // killed tokens are reported (token.used_after_revocation); the answer is the same
    const killedOnes = new Set([revoked, killedParent, killedChild]);
    const cases: [string, string][] = [
      ['garbage', 'garbage'],
      ['a JWT-shaped string beyond the length any token of ours has', `eyJhbGciOiJFUzI1NiJ9.${'A'.repeat(5_000)}.AAAA`],
      ['the live token re-signed as alg none', unsigned('none', claims(live), { typ: 'at+jwt' })],
      ['a revoked token', revoked],
      ['a killed parent', killedParent],
      ['the child of a killed parent', killedChild],
      ['an expired token (fake clock past its exp)', shortLived],
      ["another resource server's token", otherAudience],
      ['an admin-audience token', admin],
      ['a token of another agent-sts instance (same issuer, unknown session)', foreign],
    ];

    now = T0 + 61_000; // only leaf-agent's 60 s token has expired; the live one lasts 300 s
    try {
      expect((await introspect(sts, live)).body.active).toBe(true);
      const answers = [];
      for (const [name, token] of cases) {
        const res = await expectInactiveUnchanged(sts, () => introspect(sts, token), killedOnes.has(token) ? String(claims(token).sid) : undefined);
        answers.push({ name, ...observable(res) });
      }
      const first = answers[0]!;
      expect(first.text).toBe(INACTIVE);
      for (const a of answers) {
        expect({ name: a.name, status: a.status, text: a.text, headers: a.headers })
          .toEqual({ name: a.name, status: first.status, text: first.text, headers: first.headers });
      }
    } finally {
      now = T0;
    }
  });

  describe('a caller that fails authentication learns nothing about the token it sent', () => {
    const post = () => request(sts.app).post('/introspect').type('form');
    const callers: [string, (r: request.Test) => request.Test][] = [
      ['no authentication', (r) => r],
      ['a wrong resource-server secret', (r) => r.set('Authorization', basic(API, `${SECRETS[API]}x`))],
      ['an unknown resource server', (r) => r.set('Authorization', basic('https://unknown.example.com', SECRETS[API]))],
    ];

    it.each(callers)('%s: a live token and garbage give byte-identical 401s without `active`, nothing changed', async (_name, auth) => {
      const before = await snapshot(sts);
      const forLive = await auth(post()).send({ token: live });
      const forGarbage = await auth(post()).send({ token: 'garbage' });
      expect(forLive.status).toBe(401);
      expect(forLive.body.error).toBe('invalid_client');
      expect(forLive.text).not.toContain('active');
      expect(observable(forGarbage)).toEqual(observable(forLive));
      expect(await snapshot(sts)).toEqual(before);
    });

    it('an agent presenting its own token as Bearer credentials to introspect that very token → 401 invalid_client, no `active`', async () => {
      const res = await post().set('Authorization', `Bearer ${live}`).send({ token: live });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
      expect(res.text).not.toContain('active');
    });

    it('an admin presenting its admin token as Bearer credentials → 401 invalid_client, no `active`', async () => {
      const admin = await adminToken(sts);
      const res = await post().set('Authorization', `Bearer ${admin}`).send({ token: admin });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
      expect(res.text).not.toContain('active');
    });
  });

  it('afterwards the live token is still active for its own audience', async () => {
    expect((await introspect(sts, live)).body).toMatchObject({ active: true, aud: API });
  });
});
