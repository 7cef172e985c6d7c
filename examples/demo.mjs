// `npm run demo`: the whole story in one run. agent-sts (embedded store), an MCP server that verifies
// tokens locally and hears kills from agent-sts's revocation feed (SSF poll), a planner agent that gets a per-task token and delegates a narrower
// one to a sub-agent, and an admin who kills the task mid-way. Exits 0 when it went as told.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { resourceMetadataUrl, revocationFeed } from 'agent-sts-gate/express';
import { perTaskToken } from './agent.mjs';
import { killSession } from './admin.mjs';
import { mcpApp } from './mcp-server.mjs';
import { startSts } from './sts.mjs';
import { delegatedToken, dpopKeyPair, listInvoices, listInvoicesWithoutKey } from './sub-agent.mjs';

/** The demo gives the feed this long to hear the kill (it takes a few ms on loopback). */
const HEAR_TIMEOUT_MS = 5_000;
const step = (n, text) => console.log(`\n${n}. ${text}`);
const say = (text) => console.log(`   ${text}`);
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

async function main() {
  const http = createServer();
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const mcpUrl = `http://127.0.0.1:${http.address().port}/mcp`;

  step(1, 'Start agent-sts (embedded memory store, no Redis) and the MCP server (local verification, revocation feed)');
  const sts = await startSts({ mcpUrl });
  const feed = revocationFeed({ issuer: sts.issuer, audience: mcpUrl, credentials: { clientId: mcpUrl, clientSecret: sts.secrets[mcpUrl] } });
  http.on('request', mcpApp({ url: mcpUrl, issuer: sts.issuer, clientSecret: sts.secrets[mcpUrl], revocations: feed }));
  say(`agent-sts:  ${sts.issuer}`);
  say(`MCP server: ${mcpUrl} (RFC 9728 metadata at ${resourceMetadataUrl(mcpUrl)})`);
  await feed.ready();
  say(`the MCP server subscribed to its kill events (${sts.issuer}/ssf/poll) and verifies tokens with ${sts.issuer}/jwks`);
  let ok = false;
  let stolenUsed = false;
  try {
    step(2, 'planner-agent gets a per-task token for the MCP server (oauth4webapi, client_credentials)');
    const parent = await perTaskToken({
      issuer: sts.issuer, clientId: 'planner-agent', clientSecret: sts.secrets['planner-agent'], resource: mcpUrl, scope: 'invoices:read invoices:write',
    });
    const p = claims(parent.access_token);
    say(`token for aud=${p.aud}, scope="${parent.scope}", session ${p.sid}, expires in ${parent.expires_in}s`);

    step(3, 'It delegates to research-sub-agent, which exchanges it for a narrower token bound to its own key (RFC 8693, DPoP)');
    const dpop = await dpopKeyPair();
    const child = await delegatedToken({
      issuer: sts.issuer, clientId: 'research-sub-agent', clientSecret: sts.secrets['research-sub-agent'],
      subjectToken: parent.access_token, resource: mcpUrl, scope: 'invoices:read', dpop,
    });
    const c = claims(child.access_token);
    say(`scope="${child.scope}" (narrower), sub=${c.sub}, act=${JSON.stringify(c.act)}, session ${c.sid} under ${p.sid}`);
    say(`token_type=${child.token_type}, bound to key ${c.cnf?.jkt}: useless to anyone without the sub-agent's private key`);

    step(4, 'research-sub-agent calls the MCP tool list_invoices');
    const first = await listInvoices(mcpUrl, child.access_token, dpop);
    say(`allowed: ${first.invoices.length} invoices, called by ${first.calledBy} on behalf of ${first.onBehalfOf}`);
    try {
      await listInvoicesWithoutKey(mcpUrl, child.access_token);
      stolenUsed = true;
      say('a copy of the token without the key: ALLOWED — DPoP was not enforced (this is a failure)');
    } catch (err) {
      say(`a copy of the token without the key (sent as Bearer): refused, HTTP ${err.code ?? '?'}`);
    }

    step(5, "security-admin kills planner-agent's task session mid-task (admin API)");
    const killedAt = performance.now();
    const revoked = await killSession({ issuer: sts.issuer, clientSecret: sts.secrets['security-admin'], sid: p.sid });
    say(`revoked ${revoked} session(s): the parent's and every one delegated from it`);
    while (!feed.isRevoked(c.sid) && performance.now() - killedAt < HEAR_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 1));
    say(`the MCP server heard it (a signed CAEP session-revoked event) ${Math.round(performance.now() - killedAt)} ms after the admin started (its token, then the DELETE)`);

    step(6, 'research-sub-agent calls the tool again with the token it still holds');
    try {
      await listInvoices(mcpUrl, child.access_token, dpop);
      say('ALLOWED — the kill was not seen (this is a failure)');
    } catch (err) {
      say(`refused by the MCP server: HTTP ${err.code ?? '?'}, ${err.message.replace(/^.*?(\{.*\})$/s, '$1')}`);
      const { fallbacks } = feed.stats();
      say(`calls the MCP server introspected: ${fallbacks} (every call verified locally; the kill came by the feed)`);
      ok = !stolenUsed && fallbacks === 0;
    }
  } finally {
    feed.close();
    await sts.stop();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  }
  console.log(ok ? '\nDone: the kill reached the MCP server on the very next call.' : '\nFAILED: see above.');
  process.exitCode = ok ? 0 : 1;
}

main().catch((err) => {
  console.error(`demo failed: ${err.error ? `${err.error}: ${err.error_description}` : (err.stack ?? err)}`);
  process.exitCode = 1;
});
