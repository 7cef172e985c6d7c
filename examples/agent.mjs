// The parent agent: a plain OAuth client (oauth4webapi). It discovers agent-sts, gets a per-task
// token for the MCP server, and hands it to its sub-agent to exchange for a narrower one.
import * as oauth from 'oauth4webapi';

// 127.0.0.1 over http for the demo; in production the issuer is https and this option goes.
const insecure = { [oauth.allowInsecureRequests]: true };

export async function discover(issuer) {
  const url = new URL(issuer);
  return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...insecure }));
}

export async function perTaskToken({ issuer, clientId, clientSecret, resource, scope }) {
  const as = await discover(issuer);
  const client = { client_id: clientId };
  const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(clientSecret), new URLSearchParams({ resource, scope }), insecure);
  return oauth.processClientCredentialsResponse(as, client, res);
}
