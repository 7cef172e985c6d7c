import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { API, AT_TYPE, EXCHANGE, SECRETS, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { freePort } from '../helpers/redis-server.js';

/**
 * A client library written by others (oauth4webapi) drives agent-sts over real HTTP on loopback:
 * discovery, client credentials (client_secret_basic and private_key_jwt), token exchange,
 * introspection as the resource server, revocation. Everything asserted is what the library returns
 * after its own validation of each response.
 */
describe('oauth4webapi against agent-sts on a loopback port', () => {
  const insecure = { [oauth.allowInsecureRequests]: true } as const;
  let sts: TestSts;
  let server: Server;
  let issuer: URL;
  let as: oauth.AuthorizationServer;
  let pkKey: oauth.CryptoKey;

  const billing: oauth.Client = { client_id: 'billing-agent' };
  const subAgent: oauth.Client = { client_id: 'sub-agent' };
  const pkAgent: oauth.Client = { client_id: 'pk-agent' };
  const resourceServer: oauth.Client = { client_id: API };
  const basicAuth = (id: string) => oauth.ClientSecretBasic(SECRETS[id]!);

  beforeAll(async () => {
    const port = await freePort();
    issuer = new URL(`http://127.0.0.1:${port}`);
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    pkKey = privateKey;
    const jwk = { ...(await exportJWK(publicKey)), kty: 'EC', kid: 'pk-agent-1', alg: 'ES256', use: 'sig' };
    sts = await startSts({
      issuer: issuer.origin,
      registry: testRegistry({
        agents: [{ id: 'pk-agent', jwks: { keys: [jwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60 }],
      }),
    });
    server = createServer(sts.app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await sts?.close();
  });

  const clientCredentials = async (client: oauth.Client, auth: oauth.ClientAuth, scope = 'invoices:read') =>
    oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { resource: API, scope }, insecure));

  const introspect = async (token: string) =>
    oauth.processIntrospectionResponse(as, resourceServer, await oauth.introspectionRequest(as, resourceServer, basicAuth(API), token, insecure));

  it('discovers the server metadata (RFC 8414) and validates the issuer', () => {
    expect(as).toMatchObject({
      issuer: issuer.origin,
      token_endpoint: `${issuer.origin}/token`,
      introspection_endpoint: expect.stringMatching(new RegExp(`^${issuer.origin}/`)),
      revocation_endpoint: expect.stringMatching(new RegExp(`^${issuer.origin}/`)),
      jwks_uri: expect.stringMatching(new RegExp(`^${issuer.origin}/`)),
    });
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials', EXCHANGE]));
    expect(as.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    );
  });

  it('client credentials with client_secret_basic: an RFC 9068 token the library validates via jwks_uri', async () => {
    const t = await clientCredentials(billing, basicAuth('billing-agent'));
    expect(t).toMatchObject({ token_type: 'bearer', scope: 'invoices:read' });
    expect(t.expires_in).toBeGreaterThan(0);
    expect(t.expires_in).toBeLessThanOrEqual(300);

    // As a resource server would: signature (keys from discovery's jwks_uri), typ at+jwt, iss, aud, exp.
    const req = new Request('http://rs.test/invoices', { headers: { authorization: `Bearer ${t.access_token}` } });
    const c = await oauth.validateJwtAccessToken(as, req, API, insecure);
    expect(c).toMatchObject({ iss: issuer.origin, aud: API, sub: 'billing-agent', client_id: 'billing-agent', scope: 'invoices:read' });
  });

  it('client credentials with private_key_jwt for an agent registered with a public key', async () => {
    const auth = oauth.PrivateKeyJwt({ key: pkKey, kid: 'pk-agent-1' });
    const t = await clientCredentials(pkAgent, auth);
    expect(t).toMatchObject({ token_type: 'bearer', scope: 'invoices:read' });
    expect(t.expires_in).toBeLessThanOrEqual(60);
    expect(await introspect(t.access_token)).toMatchObject({ active: true, client_id: 'pk-agent', sub: 'pk-agent', aud: API });
    // A second grant signs a fresh assertion (new jti): it succeeds too.
    expect((await clientCredentials(pkAgent, auth)).access_token).not.toBe(t.access_token);
  });

  it('client credentials with scope sent empty (scope=): the library gets the whole entitlement, as with no scope (RFC 6749 §3.2)', async () => {
    const params = new URLSearchParams({ resource: API, scope: '' });
    const sent = await oauth.clientCredentialsGrantRequest(as, billing, basicAuth('billing-agent'), params, insecure);
    const t = await oauth.processClientCredentialsResponse(as, billing, sent);
    expect(t).toMatchObject({ token_type: 'bearer', scope: 'invoices:read invoices:write' });
  });

  it('a refused grant surfaces as the library\'s ResponseBodyError with the OAuth error code', async () => {
    const err = await clientCredentials(billing, basicAuth('billing-agent'), 'invoices:delete').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.ResponseBodyError);
    expect(err).toMatchObject({ status: 400, error: 'invalid_scope' });
  });

  it('a wrong secret surfaces as a 401 Basic challenge (WWWAuthenticateChallengeError)', async () => {
    const err = await clientCredentials(billing, oauth.ClientSecretBasic('wrong-secret-0123456789abcdefghijklmnop')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect(err).toMatchObject({ status: 401 });
    expect((err as oauth.WWWAuthenticateChallengeError).cause[0]?.scheme).toBe('basic');
  });

  it('token exchange, introspection, revocation, then introspection says inactive', async () => {
    const parent = await clientCredentials(billing, basicAuth('billing-agent'), 'invoices:read invoices:write');

    const exchanged = await oauth.processGenericTokenEndpointResponse(
      as,
      subAgent,
      await oauth.genericTokenEndpointRequest(as, subAgent, basicAuth('sub-agent'), EXCHANGE, {
        subject_token: parent.access_token,
        subject_token_type: AT_TYPE,
        resource: API,
        scope: 'invoices:read',
      }, insecure),
    );
    expect(exchanged).toMatchObject({ token_type: 'bearer', scope: 'invoices:read', issued_token_type: AT_TYPE });
    expect(exchanged.expires_in).toBeLessThanOrEqual(120);

    const parentIntro = await introspect(parent.access_token);
    const childIntro = await introspect(exchanged.access_token);
    expect(parentIntro).toMatchObject({ active: true, iss: issuer.origin, sub: 'billing-agent', client_id: 'billing-agent', aud: API, token_type: 'Bearer' });
    expect(childIntro).toMatchObject({
      active: true, iss: issuer.origin, sub: 'billing-agent', client_id: 'sub-agent', aud: API, scope: 'invoices:read',
      act: { sub: 'sub-agent' },
    });
    expect(childIntro.exp).toBeLessThanOrEqual(parentIntro.exp!);

    // billing-agent revokes its own token: its session and the delegated child die.
    await expect(
      oauth.processRevocationResponse(await oauth.revocationRequest(as, billing, basicAuth('billing-agent'), parent.access_token, insecure)),
    ).resolves.toBeUndefined();
    expect(await introspect(parent.access_token)).toEqual({ active: false });
    expect(await introspect(exchanged.access_token)).toEqual({ active: false });

    // Revoking it again (now unknown) is still a success for the library (RFC 7009 §2.2).
    await expect(
      oauth.processRevocationResponse(await oauth.revocationRequest(as, billing, basicAuth('billing-agent'), parent.access_token, insecure)),
    ).resolves.toBeUndefined();
  });
});
