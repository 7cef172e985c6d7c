import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider, type ClientCredentialsProviderOptions } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import request from 'supertest';
import { GRANT_TYPES } from 'agent-sts-gate/protocol';
import { listen, listeningSts } from '../helpers/http.js';
import { mcpApp, whoami } from '../helpers/mcp-app.js';
import { startIdJagIdp, type IdJagIdp } from '../helpers/id-jag-idp.js';
import { adminToken, SECRETS, testRegistry } from '../helpers/sts.js';

/**
 * MCP enterprise-managed authorization end to end with the SDK's own pieces: the MCP client (the
 * agent) holds an ID-JAG its user's IdP issued for the MCP server; the SDK discovers agent-sts from
 * the server's RFC 9728 metadata and presents the ID-JAG through a provider whose token request is
 * the jwt-bearer grant (as the SDK's client-credentials provider, with prepareTokenRequest
 * overridden); the server's requireBearerAuth checks the token with agent-sts-gate/mcp.
 */
const READ = 'invoices:read';
const WRITE = 'invoices:write';

/** The jwt-bearer grant with an ID-JAG, authenticated with client_secret_basic, through the SDK's token request. */
class IdJagProvider extends ClientCredentialsProvider {
  constructor(options: ClientCredentialsProviderOptions & { expectedIssuer: string }, private readonly assertion: string) {
    super(options);
  }

  override prepareTokenRequest(scope?: string): URLSearchParams {
    return new URLSearchParams({ grant_type: GRANT_TYPES.jwtBearer, assertion: this.assertion, ...(scope ? { scope } : {}) });
  }
}

let idp: IdJagIdp;
let env: Awaited<ReturnType<typeof listeningSts>>;
let mcp: Awaited<ReturnType<typeof listen>>;
let mcpUrl: string;

beforeAll(async () => {
  idp = await startIdJagIdp();
  mcp = await listen();
  mcpUrl = `${mcp.url}/mcp`;
  env = await listeningSts({
    registry: () => {
      const doc = testRegistry({
        resourceServers: [{ id: mcpUrl, secretHash: testRegistry().resourceServers![0]!.secretHash!, scopes: [READ, WRITE] }],
        trustedIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, accepts: ['id-jag'], agents: ['billing-agent'] }],
      });
      const billing = doc.agents!.find((a) => a.id === 'billing-agent')!;
      billing.audiences[mcpUrl] = [READ, WRITE];
      billing.grantTypes!.push(GRANT_TYPES.jwtBearer);
      return doc;
    },
  });
  mcp.handle(mcpApp({ issuer: env.issuer, audience: mcpUrl, clientSecret: SECRETS['https://api.example.com']! }, [READ], [READ, WRITE]));
});
afterAll(async () => {
  await mcp?.close();
  await env?.close();
  await idp?.close();
});

describe('the MCP SDK presenting an ID-JAG to agent-sts', () => {
  it("the user's ID-JAG becomes a token for the MCP server; the tool sees the agent as client and the user as subject; killing the user ends it", async () => {
    const assertion = await idp.idJag({ aud: env.issuer, client_id: 'billing-agent', sub: 'alice', resource: mcpUrl, scope: READ });
    const provider = new IdJagProvider({ clientId: 'billing-agent', clientSecret: SECRETS['billing-agent']!, expectedIssuer: env.issuer }, assertion);
    const client = new Client({ name: 'billing-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
    expect(await whoami(client)).toEqual({ clientId: 'billing-agent', scopes: [READ], extra: { sub: 'alice', sid: expect.any(String), act: { sub: 'billing-agent' } } });
    expect(provider.tokens()).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), scope: READ });
    await client.close();

    const token = provider.tokens()!.access_token;
    const kill = await request(env.sts.app).post('/admin/subjects/alice/revoke-sessions').set('Authorization', `Bearer ${await adminToken(env.sts)}`);
    expect(kill.body).toEqual({ revoked: 1 });
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });
});
