import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express from 'express';
import { protectedResourceMetadata, tokenVerifier, type TokenVerifierOptions } from 'agent-sts-gate/mcp';

/**
 * An MCP server as its authors write one with the SDK: an McpServer over Streamable HTTP at /mcp
 * behind the SDK's requireBearerAuth with agent-sts-gate's verifier, RFC 9728 metadata naming
 * agent-sts, and one tool, `whoami`, answering what the verified token says.
 */
export function mcpApp(options: TokenVerifierOptions, requiredScopes: string[], scopesSupported: string[]) {
  const verifier = tokenVerifier(options);
  const app = express();
  app.use(protectedResourceMetadata({ resource: options.audience, authorizationServers: [options.issuer], scopesSupported }));
  app.use(express.json());
  app.post('/mcp', requireBearerAuth({ verifier, requiredScopes, resourceMetadataUrl: verifier.resourceMetadataUrl }), async (req, res) => {
    const server = new McpServer({ name: 'invoices', version: '1.0.0' });
    server.registerTool('whoami', { description: 'who is calling, as the token says' }, async (extra) => ({
      content: [{ type: 'text', text: JSON.stringify({ clientId: extra.authInfo?.clientId, scopes: extra.authInfo?.scopes, extra: extra.authInfo?.extra }) }],
    }));
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

export interface WhoAmI {
  clientId: string;
  scopes: string[];
  extra: Record<string, unknown>;
}

/** Calls the `whoami` tool. */
export async function whoami(client: Client): Promise<WhoAmI> {
  const r = await client.callTool({ name: 'whoami', arguments: {} });
  return JSON.parse((r.content as { text: string }[])[0]!.text) as WhoAmI;
}
