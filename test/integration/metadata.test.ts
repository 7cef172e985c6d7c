import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { API, basic, clientCredentials, EXCHANGE, ISSUER, startSts, type TestSts } from '../helpers/sts.js';

/** RFC 8414 metadata, the JWKS (public members only), and JSON 404s for everything else. */

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
/** Every member a public EC/OKP/RSA JWK may carry; anything else (d, p, q, dp, dq, qi, k, iat…) is a leak. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use', 'key_ops', 'x5c', 'x5t', 'x5t#S256'];

type Res = request.Response;

function expectNotFound(res: Res): void {
  expect(res.status).toBe(404);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toStrictEqual({ error: 'not_found', error_description: 'no such endpoint' });
  expect(res.text).not.toMatch(/<html|<!DOCTYPE|<pre>|Cannot (GET|POST)/i);
}

describe('metadata and keys', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts();
  });
  afterAll(async () => {
    await sts.close();
  });

  describe('GET /.well-known/oauth-authorization-server (RFC 8414)', () => {
    let res: Res;
    beforeAll(async () => {
      res = await request(sts.app).get('/.well-known/oauth-authorization-server');
    });

    it('is JSON with the issuer exactly as configured', () => {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.issuer).toBe(ISSUER);
    });

    it('names the token, introspection and revocation endpoints and the jwks_uri under the issuer', () => {
      expect(res.body).toMatchObject({
        token_endpoint: `${ISSUER}/token`,
        introspection_endpoint: `${ISSUER}/introspect`,
        revocation_endpoint: `${ISSUER}/revoke`,
        jwks_uri: `${ISSUER}/jwks`,
      });
    });

    it('lists exactly the three grants: client_credentials, token exchange and jwt-bearer (ID-JAG), with the ID-JAG profile', () => {
      expect([...res.body.grant_types_supported].sort()).toEqual(['client_credentials', EXCHANGE, 'urn:ietf:params:oauth:grant-type:jwt-bearer'].sort());
      expect(res.body.authorization_grant_profiles_supported).toEqual(['urn:ietf:params:oauth:grant-profile:id-jag']);
    });

    it('lists client_secret_basic, client_secret_post and private_key_jwt for token, introspection and revocation', () => {
      for (const field of ['token_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) {
        expect([...res.body[field]].sort()).toEqual([...AUTH_METHODS].sort());
      }
    });

    it('offers private_key_jwt with asymmetric signing algorithms only (never none, never HS*)', () => {
      for (const field of ['token_endpoint_auth_signing_alg_values_supported', 'introspection_endpoint_auth_signing_alg_values_supported', 'revocation_endpoint_auth_signing_alg_values_supported']) {
        const algs = res.body[field] as string[];
        expect(algs).toEqual(expect.arrayContaining(['ES256']));
        for (const alg of algs) expect(alg).toMatch(/^(ES|RS|PS)(256|384|512)$|^EdDSA$|^Ed25519$/);
      }
    });

    it('has response_types_supported (REQUIRED by RFC 8414) empty, and an authorization endpoint that refuses every request', async () => {
      expect(res.body.response_types_supported).toEqual([]);
      // Listed because the MCP SDK's client rejects metadata without it, even for client_credentials.
      expect(res.body.authorization_endpoint).toBe(`${ISSUER}/authorize`);
      for (const call of [
        request(sts.app).get('/authorize?response_type=code&client_id=billing-agent&redirect_uri=https://x.example/cb'),
        request(sts.app).post('/authorize').type('form').send({ response_type: 'token', client_id: 'billing-agent' }),
      ]) {
        const r = await call;
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ error: 'unsupported_response_type' });
        expect(r.headers.location).toBeUndefined();
      }
    });

    it('advertises endpoints that work: its token endpoint issues a token verifiable with its jwks_uri', async () => {
      const path = (url: string) => new URL(url).pathname;
      const t = await request(sts.app).post(path(res.body.token_endpoint)).set('Authorization', basic('billing-agent')).type('form')
        .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
      expect(t.status).toBe(200);
      const set = JSON.parse((await request(sts.app).get(path(res.body.jwks_uri))).text) as JSONWebKeySet;
      const { payload } = await jwtVerify(t.body.access_token, createLocalJWKSet(set), { issuer: res.body.issuer, audience: API });
      expect(payload.client_id).toBe('billing-agent');
    });
  });

  describe('GET /jwks', () => {
    let res: Res;
    let set: JSONWebKeySet;
    beforeAll(async () => {
      res = await request(sts.app).get('/jwks');
      set = JSON.parse(res.text) as JSONWebKeySet;
    });

    it('is a JWK Set (application/jwk-set+json) with at least one key', () => {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/jwk-set\+json/);
      expect(Object.keys(set)).toEqual(['keys']);
      expect(set.keys.length).toBeGreaterThanOrEqual(1);
    });

    it('publishes public members only: no d or other private material', () => {
      expect(res.text).not.toMatch(/"(d|p|q|dp|dq|qi|k|oth)"\s*:/);
      for (const key of set.keys) {
        expect(key).not.toHaveProperty('d');
        for (const member of Object.keys(key)) expect(PUBLIC_MEMBERS).toContain(member);
      }
    });

    it('gives every key a unique kid, its alg and use "sig"', () => {
      for (const key of set.keys) {
        expect(key.kid).toEqual(expect.any(String));
        expect(['ES256', 'EdDSA']).toContain(key.alg);
        expect(key.use).toBe('sig');
      }
      expect(new Set(set.keys.map((k) => k.kid)).size).toBe(set.keys.length);
    });

    it('contains the key that signs tokens now', async () => {
      const t = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
      const kid = (JSON.parse(Buffer.from(t.access_token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
      expect(set.keys.map((k) => k.kid)).toContain(kid);
    });
  });

  describe('unknown paths', () => {
    it.each([
      ['GET', '/nope'],
      ['GET', '/'],
      ['POST', '/nope'],
      ['GET', '/token/extra'],
      ['GET', '/.well-known/openid-configuration'],
      ['GET', '/.well-known/oauth-authorization-server/extra'],
      ['GET', '/%E0%A4%A'],
    ])('%s %s → 404 JSON error, not HTML', async (method, path) => {
      const res = method === 'GET' ? await request(sts.app).get(path) : await request(sts.app).post(path).type('form').send('a=b');
      expectNotFound(res);
    });
  });
});

describe('metadata for an issuer with a path (RFC 8414 §3: the well-known suffix goes before the path)', () => {
  const issuer = 'http://sts.test/tenant-a';
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts({ issuer });
  });
  afterAll(async () => {
    await sts.close();
  });

  it('serves /.well-known/oauth-authorization-server/tenant-a with endpoints under the issuer, and they work', async () => {
    const res = await request(sts.app).get('/.well-known/oauth-authorization-server/tenant-a');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ issuer, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, introspection_endpoint: `${issuer}/introspect` });
    const t = await request(sts.app).post('/tenant-a/token').set('Authorization', basic('billing-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(t.status).toBe(200);
    const set = JSON.parse((await request(sts.app).get('/tenant-a/jwks')).text) as JSONWebKeySet;
    await expect(jwtVerify(t.body.access_token, createLocalJWKSet(set), { issuer, audience: API })).resolves.toBeDefined();
    expectNotFound(await request(sts.app).get('/.well-known/oauth-authorization-server'));
  });
});
