import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { requireToken } from '../../src/rs/express.js';
import { API } from '../helpers/sts.js';
import { listen } from './helpers.js';

/**
 * This build verifies no DPoP proofs, so it refuses everything DPoP rather than accept a bound
 * token on the bearer rules. (Replaced when DPoP verification lands.) The issuer here is a stand-in
 * whose introspection reports a key-bound token, since agent-sts does not issue one yet.
 */

let issuer: Awaited<ReturnType<typeof listen>>;
const NOW_S = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  issuer = await listen();
  const url = issuer.url;
  issuer.handle((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/oauth-authorization-server') {
      res.end(JSON.stringify({ issuer: url, introspection_endpoint: `${url}/introspect` }));
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token');
      res.end(JSON.stringify({
        active: true, iss: url, sub: 'a', aud: API, client_id: 'a', scope: 'invoices:read', iat: NOW_S(), exp: NOW_S() + 60, jti: 'j', sid: 's',
        token_type: token === 'bound' ? 'DPoP' : 'Bearer', ...(token === 'bound' ? { cnf: { jkt: 'x'.repeat(43) } } : {}),
      }));
    });
  });
});
afterAll(async () => {
  await issuer.close();
});

describe('DPoP in this build', () => {
  const app = () => {
    const a = express();
    a.get('/r', requireToken({ issuer: issuer.url, audience: API, clientSecret: 'irrelevant-secret-0123456789abcdef' }), (_req, res) => {
      res.json({ ok: true });
    });
    return a;
  };

  it('a plain bearer token passes', async () => {
    expect((await request(app()).get('/r').set('Authorization', 'Bearer plain')).status).toBe(200);
  });

  it.each([
    ['a token with cnf sent as Bearer', 'Bearer bound'],
    ['a token with cnf sent as DPoP', 'DPoP bound'],
    ['a plain token sent with the DPoP scheme', 'DPoP plain'],
  ])('%s → 401 invalid_token with a DPoP challenge', async (_name, auth) => {
    const res = await request(app()).get('/r').set('Authorization', auth).set('DPoP', 'e30.e30.sig');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `DPoP realm="${API}", error="invalid_token", error_description="DPoP-bound tokens are not supported by this version", algs="ES256 EdDSA", resource_metadata="${API}/.well-known/oauth-protected-resource"`,
    );
  });
});
