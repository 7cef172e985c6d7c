import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { requireToken, type RequireTokenOptions } from 'agent-sts-gate/express';
import { dpopKey, proof, type DpopKey } from '../../packages/gate/test/helpers/dpop.js';
import { API, basic, SECRETS } from '../helpers/sts.js';
import { listen, listeningSts } from '../helpers/http.js';

/**
 * DPoP end to end: a token bound at agent-sts's /token, then presented to an express API behind
 * `requireToken` (both modes) with a proof made for that API's URL. A stolen token is useless: without
 * the key, as a Bearer token, with a replayed proof or with a proof for another URL it is refused.
 */
describe.each(['introspect', 'local'] as const)('DPoP through requireToken, %s mode', (mode) => {
  let env: Awaited<ReturnType<typeof listeningSts>>;
  let api: Awaited<ReturnType<typeof listen>>;
  let key: DpopKey;
  let token: string;
  const invoices = () => `${api.url}/invoices`;

  beforeAll(async () => {
    env = await listeningSts({ store: 'memory' });
    const options = { issuer: env.issuer, audience: API, scopes: ['invoices:read'], ...(mode === 'local' ? { mode } : { clientSecret: SECRETS[API]! }) };
    const app = express();
    app.get('/invoices', requireToken(options as RequireTokenOptions), (req, res) => {
      res.json((req as express.Request & { auth?: unknown }).auth);
    });
    api = await listen(app);
    key = await dpopKey();
    const res = await request(env.sts.app).post('/token').set('Authorization', basic('billing-agent'))
      .set('DPoP', await proof(key, { htm: 'POST', htu: `${env.issuer}/token` })).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect({ status: res.status, type: res.body.token_type }).toEqual({ status: 200, type: 'DPoP' });
    token = res.body.access_token as string;
  });
  afterAll(async () => {
    await api?.close();
    await env?.close();
  });

  const call = (scheme: string, dpop?: string) => {
    const r = request(invoices()).get('').set('Authorization', `${scheme} ${token}`);
    return dpop ? r.set('DPoP', dpop) : r;
  };
  const challenge = (res: request.Response) => res.headers['www-authenticate'] as string;

  it('the holder of the key passes; req.auth.extra carries cnf.jkt', async () => {
    const res = await call('DPoP', await proof(key, { htu: invoices(), token }));
    expect(res.status).toBe(200);
    expect(res.body.extra).toMatchObject({ cnf: { jkt: key.jkt } });
  });

  it('the same token as Bearer (a downgrade) → 401 with a DPoP challenge', async () => {
    const res = await call('Bearer');
    expect(res.status).toBe(401);
    expect(challenge(res)).toMatch(/^DPoP /);
    expect(challenge(res)).toMatch(/error="invalid_token"/);
  });

  it('no proof, a proof by another key, for another URL, or replayed → 401 invalid_dpop_proof or invalid_token', async () => {
    const thief = await dpopKey();
    const replayed = await proof(key, { htu: invoices(), token });
    expect((await call('DPoP', replayed)).status).toBe(200);
    for (const dpop of [undefined, await proof(thief, { htu: invoices(), token }), await proof(key, { htu: `${api.url}/other`, token }), replayed]) {
      const res = await call('DPoP', dpop);
      expect(res.status).toBe(401);
      expect(challenge(res)).toMatch(/^DPoP .*error="(invalid_dpop_proof|invalid_token)"/);
    }
  });
});
