import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
// @ts-expect-error express 4 under an alias, with no types of its own here: only its runtime is exercised.
import express4 from 'express4';
import request from 'supertest';
import { protectedResourceMetadata, requireToken } from 'agent-sts-gate/express';
import { API, clientCredentials, SECRETS } from '../helpers/sts.js';
import { listeningSts } from '../helpers/http.js';

/** The same middleware under express 4: it uses only what both versions have. */
type App = ((req: unknown, res: unknown) => void) & { use(...h: unknown[]): void; get(p: string, ...h: unknown[]): void };

let env: Awaited<ReturnType<typeof listeningSts>>;
let app: App;
beforeAll(async () => {
  env = await listeningSts({ store: 'memory' });
  app = (express4 as () => App)();
  app.use(protectedResourceMetadata({ resource: API, authorizationServers: [env.issuer] }));
  app.get('/invoices', requireToken({ issuer: env.issuer, audience: API, clientSecret: SECRETS[API]!, scopes: ['invoices:read'] }), (req: { auth?: unknown }, res: { json(b: unknown): void }) => {
    res.json(req.auth);
  });
  app.get('/write', requireToken({ issuer: env.issuer, audience: API, clientSecret: SECRETS[API]!, scopes: ['invoices:write'] }), (_req: unknown, res: { json(b: unknown): void }) => {
    res.json({});
  });
});
afterAll(async () => {
  await env.close();
});

describe('requireToken on express 4', () => {
  it('passes a live token with req.auth, and answers each refusal as on express 5', async () => {
    const t = await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read');
    const ok = await request(app).get('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ clientId: 'billing-agent', scopes: ['invoices:read'], extra: { sub: 'billing-agent' } });
    const none = await request(app).get('/invoices');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(`Bearer realm="${API}", resource_metadata="${API}/.well-known/oauth-protected-resource"`);
    expect((await request(app).get(`/invoices?access_token=${t.access_token}`)).status).toBe(400);
    const narrow = await request(app).get('/write').set('Authorization', `Bearer ${t.access_token}`);
    expect(narrow.status).toBe(403);
    expect(narrow.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="invoices:write"/);
    expect((await request(app).get('/invoices').set('Authorization', 'Bearer garbage')).status).toBe(401);
    expect((await request(app).get('/.well-known/oauth-protected-resource')).body).toMatchObject({ resource: API });
  });
});
