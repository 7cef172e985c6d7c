import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import request from 'supertest';
import { protectedResourceMetadata, requireToken, type RequireTokenOptions } from 'agent-sts-gate/express';
import { sidOf } from '../helpers/responses.js';
import { API, clientCredentials, exchange, introspect, kill, OTHER_API, SECRETS, testRegistry, type TestSts } from '../helpers/sts.js';
import { closedPortUrl, listeningSts } from '../helpers/http.js';

/**
 * `requireToken` in front of a small express API, against agent-sts listening for real: what passes,
 * what each refusal looks like on the wire (RFC 6750 §3), and when a kill is seen.
 */

const METADATA_URL = 'https://api.example.com/.well-known/oauth-protected-resource';
const RS_KEY_ID = 'api-rs-key-1';

type Mode = 'introspect' | 'local';

function apiApp(options: RequireTokenOptions) {
  const app = express();
  app.use(protectedResourceMetadata({ resource: API, authorizationServers: [options.issuer], scopesSupported: ['invoices:read', 'invoices:write'] }));
  app.use(express.urlencoded({ extended: false }));
  app.get('/invoices', requireToken({ ...options, scopes: ['invoices:read'] }), (req, res) => {
    res.json((req as express.Request & { auth?: unknown }).auth);
  });
  app.post('/invoices', requireToken({ ...options, scopes: ['invoices:write'] }), (_req, res) => {
    res.status(201).json({ created: true });
  });
  return app;
}

let env: Awaited<ReturnType<typeof listeningSts>>;
let sts: TestSts;
let rsKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  rsKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kty: 'EC', kid: RS_KEY_ID, alg: 'ES256' };
  const keyed = 'https://keyed.example.com';
  env = await listeningSts({
    store: 'memory',
    registry: () => {
      const base = testRegistry({ resourceServers: [{ id: keyed, jwks: { keys: [jwk] }, scopes: ['invoices:read'] }] });
      base.agents![0]!.audiences[keyed] = ['invoices:read'];
      return base;
    },
  });
  sts = env.sts;
});
afterAll(async () => {
  await env.close();
});

const introspectMode = (extra: Partial<RequireTokenOptions> = {}): RequireTokenOptions =>
  ({ issuer: env.issuer, audience: API, clientSecret: SECRETS[API]!, ...extra }) as RequireTokenOptions;
const localMode = (extra: Partial<RequireTokenOptions> = {}): RequireTokenOptions =>
  ({ issuer: env.issuer, audience: API, mode: 'local', ...extra }) as RequireTokenOptions;
const optionsFor = (mode: Mode) => (mode === 'local' ? localMode() : introspectMode());


describe.each<Mode>(['introspect', 'local'])('requireToken, %s mode', (mode) => {
  let app: express.Express;
  beforeAll(() => {
    app = apiApp(optionsFor(mode));
  });

  it('a live token with the scope passes; req.auth is the AuthInfo shape with sub, sid (and act when delegated)', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const res = await request(app).get('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      token: t.access_token, clientId: 'billing-agent', scopes: ['invoices:read'], expiresAt: expect.any(Number), resource: `${API}/`, // a URL: serialized with its path
      extra: { sub: 'billing-agent', sid: sidOf(t.access_token) },
    });
    const sub = await exchange(sts, 'sub-agent', t.access_token, API, 'invoices:read');
    const delegated = await request(app).get('/invoices').set('Authorization', `Bearer ${sub.body.access_token}`);
    expect(delegated.status).toBe(200);
    expect(delegated.body).toMatchObject({ clientId: 'sub-agent', extra: { sub: 'billing-agent', act: { sub: 'sub-agent' } } });
  });

  it('no token → 401 with a Bearer challenge naming the realm and resource_metadata, and no error code', async () => {
    for (const auth of [undefined, 'Basic Zm9vOmJhcg==']) {
      const req = request(app).get('/invoices');
      const res = await (auth ? req.set('Authorization', auth) : req);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="${API}", resource_metadata="${METADATA_URL}"`);
      expect(res.body).toEqual({});
    }
  });

  it("a token for another audience → 401 invalid_token (the audience is enforced, whatever the token's signature)", async () => {
    const t = await clientCredentials(sts, 'billing-agent', OTHER_API, 'reports:read');
    const res = await request(app).get('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="${API}", error="invalid_token", error_description="[^"]+", resource_metadata="${METADATA_URL}"$`));
    expect(res.body).toMatchObject({ error: 'invalid_token' });
  });

  it('a token without the route\'s scope → 403 insufficient_scope naming the scope it needs', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const res = await request(app).post('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope", error_description="[^"]+", scope="invoices:write", resource_metadata="[^"]+"$/);
    expect(res.body).toMatchObject({ error: 'insufficient_scope' });
  });

  it('a forged or garbled token → 401 invalid_token', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const [h, p, s] = t.access_token.split('.');
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'invoices:read invoices:write' })).toString('base64url');
    for (const bad of [`${h}.${widened}.${s}`, 'not-a-jwt', `${h}.${p}.${s!.slice(0, -4)}AAAA`, 'a'.repeat(5_000)]) {
      const res = await request(app).post('/invoices').set('Authorization', `Bearer ${bad}`);
      expect({ bad: bad.slice(0, 20), status: res.status, error: res.body.error }).toEqual({ bad: bad.slice(0, 20), status: 401, error: 'invalid_token' });
    }
  });

  it('a token in the query string or the form body is refused: 400 invalid_request, even with a good header', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write');
    const q = await request(app).get(`/invoices?access_token=${t.access_token}`);
    expect(q.status).toBe(400);
    expect(q.body).toMatchObject({ error: 'invalid_request' });
    const both = await request(app).get(`/invoices?access_token=${t.access_token}`).set('Authorization', `Bearer ${t.access_token}`);
    expect(both.status).toBe(400);
    const form = await request(app).post('/invoices').type('form').send({ access_token: t.access_token });
    expect(form.status).toBe(400);
    expect(form.body).toMatchObject({ error: 'invalid_request' });
  });

  it('a malformed Authorization header → 400 invalid_request', async () => {
    for (const h of ['Bearer', 'Bearer a b', 'Bearer "quoted"', 'Bearer\ttab']) {
      const res = await request(app).get('/invoices').set('Authorization', h);
      expect({ h, status: res.status, error: res.body.error }).toEqual({ h, status: 400, error: 'invalid_request' });
    }
  });

  it('the STS unreachable → 503 temporarily_unavailable, never let through', async () => {
    const nowhere = await closedPortUrl();
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const down = apiApp(mode === 'local' ? localMode({ issuer: nowhere, timeoutMs: 2_000 }) : introspectMode({ issuer: nowhere, timeoutMs: 2_000 }));
    const res = await request(down).get('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(res.headers['www-authenticate']).toBeUndefined();
  });
});

describe('introspect mode: kills and credentials', () => {
  it('no cache (the default): a kill is seen on the very next request', async () => {
    const app = apiApp(introspectMode());
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const auth = `Bearer ${t.access_token}`;
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    await kill(sts, sidOf(t.access_token));
    const after = await request(app).get('/invoices').set('Authorization', auth);
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ error: 'invalid_token' });
  });

  it('with cacheMaxAgeSeconds and no revocation feed: a killed token passes until its cached answer ages out — the documented cost', async () => {
    let nowMs = Date.now();
    const app = apiApp(introspectMode({ cacheMaxAgeSeconds: 60, revocations: false, clock: { nowMs: () => nowMs } }));
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const auth = `Bearer ${t.access_token}`;
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    await kill(sts, sidOf(t.access_token));
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    nowMs += 59_999;
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    nowMs += 1;
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(401);
    // A token first seen after the kill is not cached as good: only positive answers are kept.
    const fresh = apiApp(introspectMode({ cacheMaxAgeSeconds: 60, revocations: false }));
    expect((await request(fresh).get('/invoices').set('Authorization', auth)).status).toBe(401);
    expect((await request(fresh).get('/invoices').set('Authorization', auth)).status).toBe(401);
  });

  it('wrong resource-server credentials → 503 (the STS gave no usable answer), never a pass', async () => {
    const app = apiApp(introspectMode({ clientSecret: 'wrong-secret-0123456789abcdef0123456' } as Partial<RequireTokenOptions>));
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const res = await request(app).get('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(res.status).toBe(503);
  });

  it('private_key_jwt: the resource server introspects with its own signed assertion', async () => {
    const keyed = 'https://keyed.example.com';
    const app = express();
    app.get('/x', requireToken({ issuer: env.issuer, audience: keyed, privateKey: rsKey, alg: 'ES256', kid: RS_KEY_ID }), (req, res) => {
      res.json((req as express.Request & { auth?: unknown }).auth);
    });
    const t = await clientCredentials(sts, 'billing-agent', keyed, 'invoices:read');
    const ok = await request(app).get('/x').set('Authorization', `Bearer ${t.access_token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ clientId: 'billing-agent', resource: `${keyed}/` });
    // Twice: each call signs a fresh assertion (agent-sts refuses a replayed jti).
    expect((await request(app).get('/x').set('Authorization', `Bearer ${t.access_token}`)).status).toBe(200);
  });
});

describe('never past exp: neither a cached answer nor a remembered verification outlives the token', () => {
  it('a token passes in every mode until its exp on the gate\'s clock, then is refused 401 by each, though agent-sts still calls it active', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const exp = (JSON.parse(Buffer.from(t.access_token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
    let nowMs = Date.now();
    const clock = { nowMs: () => nowMs };
    const base = { issuer: env.issuer, audience: API, clock };
    const apps = [
      apiApp({ ...base, clientSecret: SECRETS[API]! }),
      apiApp({ ...base, clientSecret: SECRETS[API]!, cacheMaxAgeSeconds: 3_600 }),
      apiApp({ ...base, mode: 'local' }),
    ];
    const auth = `Bearer ${t.access_token}`;
    for (const app of apps) expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    nowMs = exp * 1000 - 1;
    for (const app of apps) expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    nowMs = exp * 1000;
    for (const app of apps) {
      const res = await request(app).get('/invoices').set('Authorization', auth);
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_token' });
    }
    expect((await introspect(sts, t.access_token)).body).toMatchObject({ active: true });
  });
});

describe('local mode: what it cannot see, and the revoked-session hook', () => {
  it('cannot see a kill without a revoked-session feed: the killed token still passes (documented next to the option)', async () => {
    const app = apiApp(localMode());
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    await kill(sts, sidOf(t.access_token));
    expect((await request(app).get('/invoices').set('Authorization', `Bearer ${t.access_token}`)).status).toBe(200);
  });

  it('with isRevoked: a session it names is refused 401 invalid_token', async () => {
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const killed = new Set([sidOf(t.access_token)]);
    const app = apiApp(localMode({ isRevoked: (sid: string) => killed.has(sid) } as Partial<RequireTokenOptions>));
    const res = await request(app).get('/invoices').set('Authorization', `Bearer ${t.access_token}`);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid_token' });
  });

  it('a token verified once is remembered, yet isRevoked is asked on every request: a kill named later is seen at once', async () => {
    const killed = new Set<string>();
    const app = apiApp(localMode({ isRevoked: (sid: string) => killed.has(sid) } as Partial<RequireTokenOptions>));
    const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const auth = `Bearer ${t.access_token}`;
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(200);
    killed.add(sidOf(t.access_token));
    expect((await request(app).get('/invoices').set('Authorization', auth)).status).toBe(401);
  });

  it('refuses a JWT that is not an access token (typ) even when signed by the issuer: the id-less client assertion shape', async () => {
    // A token for the right audience and issuer but without typ at+jwt: jose refuses the typ.
    const { privateKey } = await generateKeyPair('ES256');
    const { SignJWT } = await import('jose');
    const jwt = await new SignJWT({ scope: 'invoices:read', client_id: 'x', sid: 's', jti: 'j' })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).setIssuer(env.issuer).setAudience(API).setSubject('x').setIssuedAt().setExpirationTime('1m')
      .sign(privateKey);
    const res = await request(apiApp(localMode())).get('/invoices').set('Authorization', `Bearer ${jwt}`);
    expect(res.status).toBe(401);
  });
});

describe('protectedResourceMetadata (RFC 9728)', () => {
  it('serves the document at the well-known URL every challenge names', async () => {
    const app = apiApp(introspectMode());
    const res = await request(app).get('/.well-known/oauth-protected-resource');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      resource: API, authorization_servers: [env.issuer], scopes_supported: ['invoices:read', 'invoices:write'], bearer_methods_supported: ['header'],
    });
  });

  it('a resource with a path: the path-suffixed form, and the root form too', async () => {
    const app = express();
    app.use(protectedResourceMetadata({ resource: 'https://api.example.com/mcp', authorizationServers: [env.issuer] }));
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await request(app).get(path);
      expect({ path, status: res.status, resource: res.body.resource }).toEqual({ path, status: 200, resource: 'https://api.example.com/mcp' });
    }
    expect((await request(app).get('/.well-known/oauth-protected-resource/other')).status).toBe(404);
    expect((await request(app).post('/.well-known/oauth-protected-resource/mcp')).status).toBe(404);
  });
});
