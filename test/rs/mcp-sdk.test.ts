import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import request from 'supertest';
import type { TokenVerifierOptions } from 'agent-sts-gate/mcp';
import { mcpApp as sharedMcpApp, whoami } from '../helpers/mcp-app.js';
import { adminToken, SECRETS, testRegistry } from '../helpers/sts.js';
import { closedPortUrl, listen, listeningSts } from '../helpers/http.js';

/**
 * The MCP SDK's own pieces, unmodified: an McpServer over Streamable HTTP behind requireBearerAuth
 * with agent-sts's verifier, and the SDK's client with its client-credentials providers, which
 * discover agent-sts from the server's RFC 9728 metadata and ask for a token with `resource`.
 */

const PK_AGENT = 'mcp-pk-agent';
const READ = 'invoices:read';

let env: Awaited<ReturnType<typeof listeningSts>>;
let mcp: Awaited<ReturnType<typeof listen>>;
let mcpUrl: string;
let pkPem: string;

const mcpApp = (options: TokenVerifierOptions, requiredScopes = [READ]) => sharedMcpApp(options, requiredScopes, [READ, 'invoices:write']);

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  pkPem = await exportPKCS8(pair.privateKey);
  const jwk = { ...(await exportJWK(pair.publicKey)), kty: 'EC', alg: 'ES256' };
  mcp = await listen();
  mcpUrl = `${mcp.url}/mcp`;
  env = await listeningSts({
    store: 'memory',
    registry: () => {
      const doc = testRegistry({
        resourceServers: [{ id: mcpUrl, secretHash: testRegistry().resourceServers![0]!.secretHash!, scopes: [READ, 'invoices:write'] }],
        agents: [{ id: PK_AGENT, jwks: { keys: [jwk] }, audiences: { [mcpUrl]: [READ] } }],
      });
      for (const a of doc.agents!) if (a.id === 'billing-agent') a.audiences[mcpUrl] = [READ, 'invoices:write'];
      for (const a of doc.agents!) if (a.id === 'leaf-agent') a.audiences[mcpUrl] = [READ];
      return doc;
    },
  });
  // The MCP server authenticates to agent-sts with the API's secret (registered above under its URL).
  mcp.handle(mcpApp({ issuer: env.issuer, audience: mcpUrl, clientSecret: SECRETS['https://api.example.com']! }));
});
afterAll(async () => {
  await mcp.close();
  await env.close();
});

async function connect(provider: ClientCredentialsProvider | PrivateKeyJwtProvider) {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  return client;
}
const claimsOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('the MCP SDK against agent-sts', () => {
  it('ClientCredentialsProvider discovers agent-sts from RFC 9728, gets a token for the resource (no scope sent: the whole entitlement), calls a tool', async () => {
    const provider = new ClientCredentialsProvider({ clientId: 'billing-agent', clientSecret: SECRETS['billing-agent']!, expectedIssuer: env.issuer });
    const client = await connect(provider);
    expect(await whoami(client)).toEqual({ clientId: 'billing-agent', scopes: [READ, 'invoices:write'], extra: { sub: 'billing-agent', sid: expect.any(String) } });
    const token = provider.tokens()!;
    expect(token.scope).toBe(`${READ} invoices:write`);
    expect(claimsOf(token.access_token)).toMatchObject({ aud: mcpUrl, iss: env.issuer });
    await client.close();
  });

  it('a configured scope wider than the entitlement is narrowed, and the token response says so', async () => {
    const provider = new ClientCredentialsProvider({
      clientId: 'leaf-agent', clientSecret: SECRETS['leaf-agent']!, expectedIssuer: env.issuer, scope: `${READ} invoices:write`,
    });
    const client = await connect(provider);
    expect(await whoami(client)).toMatchObject({ clientId: 'leaf-agent', scopes: [READ] });
    expect(provider.tokens()!.scope).toBe(READ);
    await client.close();
  });

  it('PrivateKeyJwtProvider: the agent authenticates with its key and calls the tool', async () => {
    const provider = new PrivateKeyJwtProvider({ clientId: PK_AGENT, privateKey: pkPem, algorithm: 'ES256', expectedIssuer: env.issuer });
    const client = await connect(provider);
    expect(await whoami(client)).toMatchObject({ clientId: PK_AGENT, scopes: [READ] });
    await client.close();
  });

  it('a killed session: its token is refused 401 invalid_token by the SDK with the resource_metadata challenge', async () => {
    const provider = new ClientCredentialsProvider({ clientId: 'billing-agent', clientSecret: SECRETS['billing-agent']!, expectedIssuer: env.issuer });
    const client = await connect(provider);
    await whoami(client);
    const token = provider.tokens()!.access_token;
    const admin = await adminToken(env.sts);
    expect((await request(env.sts.app).delete(`/admin/sessions/${claimsOf(token).sid as string}`).set('Authorization', `Bearer ${admin}`)).status).toBe(200);
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer error="invalid_token", .*resource_metadata="${mcp.url}/.well-known/oauth-protected-resource/mcp"$`));
    await client.close();
  });

  it("a token for another audience → 401; a token without the verifier's scopes → 403 insufficient_scope", async () => {
    const other = await fetch(`${env.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`billing-agent:${SECRETS['billing-agent']}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://api.example.com', scope: READ }),
    });
    const otherToken = ((await other.json()) as { access_token: string }).access_token;
    const app = mcpApp({ issuer: env.issuer, audience: mcpUrl, clientSecret: SECRETS['https://api.example.com']!, scopes: ['invoices:write'] }, []);
    const refused = await request(app).post('/mcp').set('Authorization', `Bearer ${otherToken}`).send({});
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'invalid_token' });
    const provider = new ClientCredentialsProvider({ clientId: 'leaf-agent', clientSecret: SECRETS['leaf-agent']!, expectedIssuer: env.issuer });
    await (await connect(provider)).close();
    const narrow = await request(app).post('/mcp').set('Authorization', `Bearer ${provider.tokens()!.access_token}`).send({});
    expect(narrow.status).toBe(403);
    expect(narrow.body).toMatchObject({ error: 'insufficient_scope' });
  });

  it('agent-sts unreachable → the SDK answers 500 server_error: never a pass', async () => {
    const app = mcpApp({ issuer: await closedPortUrl(), audience: mcpUrl, clientSecret: 'x'.repeat(32), timeoutMs: 2_000 });
    const res = await request(app).post('/mcp').set('Authorization', 'Bearer abc').send({});
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ error: 'server_error' });
  });
});
