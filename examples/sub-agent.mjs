// The sub-agent: exchanges its parent's token for a narrower one of its own (RFC 8693, through
// oauth4webapi), then calls the MCP server's tool with the SDK's client.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as oauth from 'oauth4webapi';
import { discover } from './agent.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export async function delegatedToken({ issuer, clientId, clientSecret, subjectToken, resource, scope }) {
  const as = await discover(issuer);
  const client = { client_id: clientId };
  const params = new URLSearchParams({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, resource, scope });
  const res = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(clientSecret), EXCHANGE, params, insecure);
  return oauth.processGenericTokenEndpointResponse(as, client, res);
}

/** Calls `list_invoices` once with `token`; a refusal comes back as the SDK's error. */
export async function listInvoices(mcpUrl, token) {
  const client = new Client({ name: 'research-sub-agent', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  try {
    await client.connect(transport);
    const r = await client.callTool({ name: 'list_invoices', arguments: {} });
    return JSON.parse(r.content[0].text);
  } finally {
    await client.close().catch(() => {});
  }
}
