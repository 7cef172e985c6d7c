import { assertionId } from '../../src/clients/authenticate.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { attackerKey, expectInactiveUnchanged, signWithHeader, type AttackerKey } from '../helpers/attack.js';
import { ADMIN_AUD, adminToken, API, AT_TYPE, claims, clientCredentials, exchange, introspect, ISSUER, JWT_TYPE, SECRETS, startSts, testRegistry, type TestSts, snapshot, EXCHANGE } from '../helpers/sts.js';
import { expectOAuthError, expectRefused } from '../helpers/responses.js';
import { hashSecret } from '../../src/clients/secret.js';

/**
 * Type confusion: a token that is genuine for one purpose presented for another. An admin token or
 * a client assertion as a subject token, an access token as a client assertion or a client secret,
 * a client assertion or a user's token as an admin bearer token or at introspection.
 */

const UPSTREAM = 'https://idp.confusion.test';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const EXCHANGE_ADMIN_SECRET = 'exchange-admin-secret-0123456789abcdefgh';
const nowS = () => Math.floor(Date.now() / 1000);

describe('type confusion', () => {
  let sts: TestSts;
  let agentKey: AttackerKey;
  let idpKey: AttackerKey;
  let admin: string;
  let xAdmin: string;
  let apiToken: string;
  let jwtAgentToken: string;

  beforeAll(async () => {
    agentKey = await attackerKey('confusion-agent-key');
    idpKey = await attackerKey('confusion-idp-key');
    sts = await startSts({
      registry: testRegistry({
        agents: [
          { id: 'jwt-agent', jwks: { keys: [agentKey.publicJwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60, grantTypes: ['client_credentials', EXCHANGE] },
          {
            // An admin that may also exchange and holds an API entitlement: the audience must still not change.
            id: 'exchange-admin', secretHash: hashSecret(EXCHANGE_ADMIN_SECRET), grantTypes: ['client_credentials', EXCHANGE], maxDelegationDepth: 2,
            audiences: { [ADMIN_AUD]: ['sessions:read', 'sessions:kill'], [API]: ['invoices:read', 'invoices:write'] },
          },
        ],
        trustedIssuers: [{ issuer: UPSTREAM, jwks: idpKey.jwks, audience: ISSUER, agents: ['billing-agent'] }],
      }),
    });
    SECRETS['exchange-admin'] = EXCHANGE_ADMIN_SECRET;
    admin = await adminToken(sts);
    xAdmin = (await clientCredentials(sts, 'exchange-admin', ADMIN_AUD, 'sessions:read sessions:kill')).access_token;
    apiToken = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    jwtAgentToken = (await viaAssertion(await clientAssertion())).body.access_token as string;
  });
  afterAll(async () => {
    delete SECRETS['exchange-admin'];
    await sts.close();
  });

  function clientAssertion(agent = 'jwt-agent') {
    return signWithHeader(
      { alg: 'ES256', kid: agentKey.publicJwk.kid },
      { iss: agent, sub: agent, aud: ISSUER, iat: nowS(), exp: nowS() + 60, jti: randomUUID() },
      agentKey.privateKey,
    );
  }
  function viaAssertion(a: string) {
    return request(sts.app).post('/token').type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: a });
  }
  const userToken = () =>
    signWithHeader(
      { alg: 'ES256', typ: 'at+jwt', kid: idpKey.publicJwk.kid },
      { iss: UPSTREAM, sub: 'alice', aud: ISSUER, scope: 'invoices:read', iat: nowS(), exp: nowS() + 300, jti: randomUUID() },
      idpKey.privateKey,
    );
  const adminList = (token: string) => request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${token}`);

  it('controls: the assertion-based token was issued, the exchange-admin token works at the admin API and narrows within its audience', async () => {
    expect(claims(jwtAgentToken)).toMatchObject({ client_id: 'jwt-agent', aud: API });
    expect((await adminList(xAdmin)).status).toBe(200);
    const narrowed = await exchange(sts, 'exchange-admin', xAdmin, ADMIN_AUD, 'sessions:read');
    expect(narrowed.status).toBe(200);
    expect(claims(narrowed.body.access_token as string)).toMatchObject({ aud: ADMIN_AUD, scope: 'sessions:read' });
  });

  describe('an admin token as subject_token', () => {
    it('exchanged by its own agent for an API token it is entitled to → 400 invalid_target (an exchange never changes the audience)', async () => {
      await expectRefused(sts, () => exchange(sts, 'exchange-admin', xAdmin, API, 'invoices:read'), 400, 'invalid_target');
    });
    it('exchanged by another agent (not a delegate of the admin) for the admin audience → 400 invalid_grant', async () => {
      await expectRefused(sts, () => exchange(sts, 'billing-agent', xAdmin, ADMIN_AUD, 'sessions:read'), 400, 'invalid_grant');
    });
    it('exchanged by another agent for its own API → 400 invalid_grant', async () => {
      await expectRefused(sts, () => exchange(sts, 'billing-agent', admin, API, 'invoices:read'), 400, 'invalid_grant');
    });
    it('presented as a jwt subject_token_type → the same refusal', async () => {
      await expectRefused(sts, () => exchange(sts, 'exchange-admin', xAdmin, API, 'invoices:read', { subject_token_type: JWT_TYPE }), 400, 'invalid_target');
    });
  });

  describe('a client assertion as subject_token or actor_token', () => {
    it.each([AT_TYPE, JWT_TYPE])('a valid, unused client assertion of jwt-agent as subject_token (type %s) → 400 invalid_grant', async (type) => {
      const a = await clientAssertion();
      await expectRefused(sts, () => exchange(sts, 'billing-agent', a, API, 'invoices:read', { subject_token_type: type }), 400, 'invalid_grant');
      // jwt-agent itself, authenticated with a second assertion, presenting its own first one: the only
      // write is the authenticating assertion's spent jti.
      const auth = await clientAssertion();
      const before = await snapshot(sts);
      const issued = sts.events.events.filter((e) => e.type === 'token.issued').length;
      const res = await request(sts.app).post('/token').type('form').send({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: a, subject_token_type: type, resource: API,
        scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: auth,
      });
      expectOAuthError(res, 400, 'invalid_grant');
      const after = await snapshot(sts);
      const added = Object.keys(after).filter((k) => !(k in before));
      expect(added).toEqual([sts.keys!.usedOnce('client-assertion', assertionId('jwt-agent', claims(auth).jti as string))]);
      for (const k of Object.keys(before)) expect(after[k]).toEqual(before[k]);
      expect(sts.events.events.filter((e) => e.type === 'token.issued').length).toBe(issued);
      // Not spent by being shown as a subject token: it still authenticates (once).
      expect((await viaAssertion(a)).status).toBe(200);
    });
    it('a client assertion as actor_token → 400 invalid_grant', async () => {
      const a = await clientAssertion();
      await expectRefused(
        sts,
        () => exchange(sts, 'billing-agent', apiToken, API, 'invoices:read', { actor_token: a, actor_token_type: JWT_TYPE }),
        400, 'invalid_grant',
      );
    });
  });

  describe('an access token as a client credential', () => {
    it("jwt-agent's own access token (signed by the STS, sub jwt-agent) as its client_assertion → 401 invalid_client", async () => {
      await expectRefused(sts, () => viaAssertion(jwtAgentToken), 401, 'invalid_client');
    });
    it("billing-agent's access token as a client_assertion → 401 invalid_client", async () => {
      await expectRefused(sts, () => viaAssertion(apiToken), 401, 'invalid_client');
    });
    it('an access token as client_secret (client_secret_post) → 401 invalid_client', async () => {
      await expectRefused(
        sts,
        () => request(sts.app).post('/token').type('form')
          .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_id: 'billing-agent', client_secret: apiToken }),
        401, 'invalid_client',
      );
    });
    it("a user's token from a trusted issuer as a client_assertion → 401 invalid_client", async () => {
      await expectRefused(sts, async () => viaAssertion(await userToken()), 401, 'invalid_client');
    });
  });

  describe('other tokens as the admin bearer token → 401 invalid_token', () => {
    it.each([
      ['a client assertion of jwt-agent', () => clientAssertion()],
      ["a trusted issuer's user token", () => userToken()],
      ['an API access token of an agent', async () => apiToken],
    ] as [string, () => Promise<string>][])('%s', async (_name, make) => {
      const t = await make();
      await expectRefused(sts, () => adminList(t), 401, 'invalid_token', { events: 'none' });
      await expectRefused(sts, () => request(sts.app).delete(`/admin/sessions/${claims(apiToken).sid as string}`).set('Authorization', `Bearer ${t}`), 401, 'invalid_token', { events: 'none' });
    });
  });

  describe('other tokens at introspection → exactly {"active":false}', () => {
    it.each([
      ['a client assertion', () => clientAssertion()],
      ["a trusted issuer's user token (aud = the STS)", () => userToken()],
    ] as [string, () => Promise<string>][])('%s', async (_name, make) => {
      const t = await make();
      await expectInactiveUnchanged(sts, () => introspect(sts, t));
    });
  });

  it('after all of it the genuine tokens are untouched', async () => {
    expect((await introspect(sts, apiToken)).body.active).toBe(true);
    expect((await adminList(admin)).status).toBe(200);
  });
});
