// The MCP server: the official SDK, with agent-sts deciding who may call it, and its RFC 9728
// metadata telling clients where to get a token. It verifies tokens locally (agent-sts's JWKS) and
// hears kills from agent-sts's revocation feed (SSF poll): no introspection per call. The gate is
// agent-sts-gate/express's requireToken rather than the SDK's requireBearerAuth (with
// agent-sts-gate/mcp's tokenVerifier), because the
// sub-agent's token is DPoP-bound and the SDK's gate speaks Bearer only; requireToken checks the
// proof and hands the SDK the same AuthInfo (req.auth).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireToken } from 'agent-sts-gate/express';
import { protectedResourceMetadata } from 'agent-sts-gate/mcp';
import express from 'express';

const INVOICES = [
  { id: 'INV-1001', customer: 'Acme', amount: 1200 },
  { id: 'INV-1002', customer: 'Globex', amount: 860 },
];

function invoicesServer() {
  const server = new McpServer({ name: 'invoices', version: '1.0.0' });
  server.registerTool('list_invoices', { description: 'List open invoices' }, async (extra) => ({
    content: [{ type: 'text', text: JSON.stringify({ invoices: INVOICES, calledBy: extra.authInfo?.clientId, onBehalfOf: extra.authInfo?.extra?.sub }) }],
  }));
  return server;
}

/** An express app serving MCP at `${url}` (its path), for tokens agent-sts issued for exactly that URL; `revocations`: its kill feed. */
export function mcpApp({ url, issuer, clientSecret, revocations }) {
  const app = express();
  app.use(protectedResourceMetadata({ resource: url, authorizationServers: [issuer], scopesSupported: ['invoices:read', 'invoices:write'], resourceName: 'Invoices' }));
  app.use(express.json());
  app.post(new URL(url).pathname, requireToken({ issuer, audience: url, mode: 'local', clientSecret, revocations, scopes: ['invoices:read'] }), async (req, res) => {
    const server = invoicesServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}
