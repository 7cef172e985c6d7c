// A resource server as its author writes it, in a directory of its own outside the repository:
// express and the MCP SDK are the app's, agent-sts-gate is installed (install.test.ts copies this
// file into a scratch app and installs the gate as the README says). One app, both adapters:
//   GET  /invoices         express, requireToken
//   POST /mcp              an McpServer behind the SDK's requireBearerAuth and tokenVerifier
//   POST /mcp-app-errors   the same, handed the app's own SDK error classes (`errors`)
// Every route needs invoices:write; the gate introspects each token (a kill is seen at once).
import * as sdkErrors from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireToken } from 'agent-sts-gate/express';
import { tokenVerifier } from 'agent-sts-gate/mcp';
import express from 'express';

const gate = { issuer: process.env.STS_ISSUER, audience: process.env.RS_AUDIENCE, clientSecret: process.env.RS_SECRET, scopes: ['invoices:write'] };

function mcp(verifier) {
  const auth = requireBearerAuth({ verifier, resourceMetadataUrl: verifier.resourceMetadataUrl });
  return [auth, async (req, res) => {
    const server = new McpServer({ name: 'invoices', version: '1.0.0' });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  }];
}

const app = express();
app.use(express.json());
app.get('/invoices', requireToken(gate), (req, res) => res.json({ clientId: req.auth.clientId, scopes: req.auth.scopes }));
app.post('/mcp', ...mcp(tokenVerifier(gate)));
app.post('/mcp-app-errors', ...mcp(tokenVerifier({ ...gate, errors: sdkErrors })));

const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
