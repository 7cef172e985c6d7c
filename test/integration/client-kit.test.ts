import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import {
  authorizationServerMetadata, clientCredentialsGrant, DiscoveryError, dpopSigner, isDpopBound, requestToken, tokenExchangeGrant, TokenRequestError,
  type DpopSigner,
} from 'agent-sts-gate/protocol';
import { listen, listeningSts } from '../helpers/http.js';
import { API, introspect, SECRETS, testRegistry } from '../helpers/sts.js';

/**
 * The client kit against agent-sts listening on loopback: discovery, client credentials and token
 * exchange with client_secret_basic, client_secret_post and private_key_jwt, DPoP-bound by the
 * kit's signer; and against a small fake server, the DPoP nonce retry and a metadata mismatch.
 */

let env: Awaited<ReturnType<typeof listeningSts>>;
let tokenEndpoint: string;
let pkKey: CryptoKey;
const secret = (clientId: string) => ({ clientId, clientSecret: SECRETS[clientId]! });

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  pkKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kty: 'EC', kid: 'pk-1', alg: 'ES256' };
  env = await listeningSts({
    store: 'memory',
    registry: () => testRegistry({ agents: [{ id: 'pk-agent', jwks: { keys: [jwk] }, audiences: { [API]: ['invoices:read'] } }] }),
  });
  tokenEndpoint = (await authorizationServerMetadata(env.issuer, { timeoutMs: 5_000 })).token_endpoint!;
});
afterAll(async () => {
  await env.close();
});

describe('token requests against agent-sts', () => {
  it('discovery finds the token endpoint under the issuer', () => {
    expect(tokenEndpoint).toBe(`${env.issuer}/token`);
  });

  it('client credentials with a DPoP signer: a DPoP-bound token, bound to the signer\'s key', async () => {
    const signer = await dpopSigner();
    const t = await requestToken(tokenEndpoint, clientCredentialsGrant({ resource: API, scope: ['invoices:read'] }), { credentials: secret('billing-agent'), dpop: signer });
    expect({ type: t.token_type, bound: isDpopBound(t), scope: t.scope }).toEqual({ type: 'DPoP', bound: true, scope: 'invoices:read' });
    expect((await introspect(env.sts, t.access_token)).body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: signer.key.jkt } });
  });

  it('token exchange by a delegate with its own key; client_secret_post and private_key_jwt authenticate as well', async () => {
    const root = await requestToken(tokenEndpoint, clientCredentialsGrant({ resource: API, scope: 'invoices:read invoices:write' }), {
      credentials: { ...secret('billing-agent'), method: 'client_secret_post' },
    });
    expect(root.token_type).toBe('Bearer');
    const sub: DpopSigner = await dpopSigner();
    const delegated = await requestToken(tokenEndpoint, tokenExchangeGrant({ subjectToken: root.access_token, resource: API, scope: ['invoices:read'] }), {
      credentials: secret('sub-agent'), dpop: sub,
    });
    expect(decodeJwt(delegated.access_token)).toMatchObject({ sub: 'billing-agent', client_id: 'sub-agent', act: { sub: 'sub-agent' }, cnf: { jkt: sub.key.jkt } });
    const pk = await requestToken(tokenEndpoint, clientCredentialsGrant({ resource: API }), {
      credentials: { clientId: 'pk-agent', privateKey: pkKey, alg: 'ES256', kid: 'pk-1' },
    });
    expect(decodeJwt(pk.access_token)).toMatchObject({ client_id: 'pk-agent', scope: 'invoices:read' });
  });

  it('a refusal is a TokenRequestError with the status and OAuth error', async () => {
    const refused = requestToken(tokenEndpoint, clientCredentialsGrant({ resource: API }), { credentials: { clientId: 'billing-agent', clientSecret: 'wrong secret' } });
    await expect(refused).rejects.toBeInstanceOf(TokenRequestError);
    await expect(refused).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
  });
});

describe('against a small fake server', () => {
  it('RFC 9449 §8: a use_dpop_nonce answer is retried once with the nonce it names', async () => {
    const proofs: Record<string, unknown>[] = [];
    const fake = await listen((req, res) => {
      proofs.push(decodeJwt(String(req.headers.dpop)));
      req.resume();
      req.on('end', () => {
        const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
          res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
        if (proofs.at(-1)!.nonce !== 'n-1') return json(400, { error: 'use_dpop_nonce' }, { 'DPoP-Nonce': 'n-1' });
        json(200, { access_token: 'at', token_type: 'DPoP', expires_in: 60 });
      });
    });
    try {
      const t = await requestToken(`${fake.url}/token`, clientCredentialsGrant(), { credentials: secret('billing-agent'), dpop: await dpopSigner() });
      expect(t).toEqual({ access_token: 'at', token_type: 'DPoP', expires_in: 60 });
      expect(proofs.map((p) => p.nonce)).toEqual([undefined, 'n-1']);
    } finally {
      await fake.close();
    }
  });

  it('metadata that names another issuer is refused (RFC 8414 §3.3)', async () => {
    const fake = await listen((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: 'https://evil.example.com' })));
    try {
      await expect(authorizationServerMetadata(fake.url, { timeoutMs: 5_000 })).rejects.toMatchObject({ name: 'DiscoveryError', code: 'mismatch' });
      await expect(authorizationServerMetadata(`${fake.url}/nowhere-else`, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(DiscoveryError);
    } finally {
      await fake.close();
    }
  });
});
