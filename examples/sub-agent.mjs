// The sub-agent: exchanges its parent's token for a narrower one of its own (RFC 8693, through
// oauth4webapi), bound to its own DPoP key (RFC 9449), then calls the MCP server's tool with the
// SDK's client, each request carrying a fresh proof of that key.
import { createHash, randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { discover } from './agent.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/** The sub-agent's DPoP key pair: it never leaves this process; its thumbprint is what the token is bound to. */
export async function dpopKeyPair() {
  const keyPair = await oauth.generateKeyPair('ES256');
  const jwk = await exportJWK(keyPair.publicKey);
  return { keyPair, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

export async function delegatedToken({ issuer, clientId, clientSecret, subjectToken, resource, scope, dpop }) {
  const as = await discover(issuer);
  const client = { client_id: clientId };
  const params = new URLSearchParams({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, resource, scope });
  const DPoP = oauth.DPoP(client, dpop.keyPair);
  const res = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(clientSecret), EXCHANGE, params, { DPoP, ...insecure });
  return oauth.processGenericTokenEndpointResponse(as, client, res);
}

/** A DPoP proof (RFC 9449 §4.2) for one request: method, URL, the token's hash; signed by the sub-agent's key. */
function proof(dpop, method, url, token) {
  const u = new URL(url);
  return new SignJWT({ htm: method, htu: `${u.origin}${u.pathname}`, jti: randomUUID(), ath: createHash('sha256').update(token).digest('base64url') })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: dpop.jwk })
    .setIssuedAt()
    .sign(dpop.keyPair.privateKey);
}

/** What a thief who copied the token (but not the key) can do: call with it as a Bearer token. */
export async function listInvoicesWithoutKey(mcpUrl, token) {
  const client = new Client({ name: 'thief', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  try {
    await client.connect(transport);
    return await client.callTool({ name: 'list_invoices', arguments: {} });
  } finally {
    await client.close().catch(() => {});
  }
}

/** Calls `list_invoices` once with `token`, proving possession of `dpop` on every request; a refusal comes back as the SDK's error. */
export async function listInvoices(mcpUrl, token, dpop) {
  const client = new Client({ name: 'research-sub-agent', version: '1.0.0' });
  const fetchWithProof = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('Authorization', `DPoP ${token}`);
    headers.set('DPoP', await proof(dpop, init.method ?? 'GET', url, token));
    return fetch(url, { ...init, headers });
  };
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: fetchWithProof });
  try {
    await client.connect(transport);
    const r = await client.callTool({ name: 'list_invoices', arguments: {} });
    return JSON.parse(r.content[0].text);
  } finally {
    await client.close().catch(() => {});
  }
}
