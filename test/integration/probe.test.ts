import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import express, { type RequestHandler } from 'express';
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import request from 'supertest';
import { requireToken } from 'agent-sts-gate/express';
import { protectedResourceMetadata, tokenVerifier } from 'agent-sts-gate/mcp';
import { run } from '../../src/cli/index.js';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { probeAgentBase } from '../../src/probe/agents.js';
import type { ResourceServerReview } from '../../src/admin/probe-review.js';
import type { ProbeCase, ProbeReport } from '../../src/probe/report.js';
import { listen, listeningSts } from '../helpers/http.js';
import { ADMIN_AUD, API, basic, OTHER_API, SECRETS, testRegistry } from '../helpers/sts.js';

/**
 * `agent-sts probe` against real APIs started here, each wired as its owner would wire it: the
 * gate in introspect mode, in local mode with and without the revocation feed, Auth0's
 * express-oauth2-jwt-bearer, a JWT check that forgot the audience, no check at all, and an MCP SDK
 * server behind requireBearerAuth with agent-sts's verifier. The verdict, the exit code, each
 * case's evidence, and that the probe left no session alive.
 */

const ADMIN = 'probe-admin';
const ADMIN_SECRET = 'probe-admin-secret-0123456789abcdefghij';
const READ = 'invoices:read';
/** Waits are bounded (no assertion on time): long enough for the gate's 10 s clock leeway on exp. */
const WAITS = ['--kill-wait', '3s', '--expiry-grace', '15s'];
const SCOPED = ['--scope', READ, ...WAITS];

let env: Awaited<ReturnType<typeof listeningSts>>;
let mcpUrl: string;
const servers: { close(): Promise<void> }[] = [];

async function serve(app: express.Express): Promise<string> {
  const s = await listen(app);
  servers.push(s);
  return s.url;
}

const ok: RequestHandler = (_req, res) => void res.json({ ok: true });
const gateApi = (options: Parameters<typeof requireToken>[0]) => {
  const gate = requireToken(options);
  servers.push({ close: async () => gate.close() });
  return express().get('/authz', gate, ok);
};

/** The admin API as the probe's admin, with a bearer token (supertest). */
async function adminToken(scope = 'agents:read'): Promise<string> {
  const res = await request(env.sts.app).post('/token').set('Authorization', basic(ADMIN, ADMIN_SECRET)).type('form')
    .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope });
  return res.body.access_token as string;
}
const adminGet = (p: string) => request(env.sts.app).get(p).set('Authorization', `Bearer ${adminTokenCache}`);
let adminTokenCache = '';

async function probe(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(['--json', 'probe', ...args], {
    stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, cwd: process.cwd(),
    env: { AGENT_STS_URL: env.issuer, AGENT_STS_CLIENT_ID: ADMIN, AGENT_STS_CLIENT_SECRET: ADMIN_SECRET },
  });
  const stdout = out.join('');
  return { code, stderr: err.join(''), report: (stdout ? JSON.parse(stdout) : undefined) as (ProbeReport & { cleanup: { revoked: number } }) | undefined };
}

const outcomes = (r: ProbeReport) => Object.fromEntries(r.cases.map((c) => [c.id, c.outcome]));
const caseOf = (r: ProbeReport, id: ProbeCase['id']) => r.cases.find((c) => c.id === id)!;

/** No session of the probe's agents is alive at the STS. */
async function probeSessions(resourceServer: string): Promise<number> {
  const base = probeAgentBase(resourceServer);
  let n = 0;
  for (const id of [base, `${base}.delegate`, `${base}.expiring`]) n += (await env.sts.deps.sessions.list({ agent: id }, 100)).length;
  return n;
}

beforeAll(async () => {
  const mcp = await listen();
  servers.push(mcp);
  mcpUrl = `${mcp.url}/mcp`;
  env = await listeningSts({
    store: 'redis', live: true,
    registry: () => testRegistry({
      agents: [{ id: ADMIN, owner: 'platform', secretHash: hashSecret(ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }],
      resourceServers: [{ id: mcpUrl, secretHash: hashSecret(SECRETS[API]!), scopes: [READ, 'invoices:write'] }],
    }),
  });
  const verifier = tokenVerifier({ issuer: env.issuer, audience: mcpUrl, clientSecret: SECRETS[API]! });
  const app = express();
  app.use(protectedResourceMetadata({ resource: mcpUrl, authorizationServers: [env.issuer], scopesSupported: [READ] }));
  app.get('/mcp/authz', requireBearerAuth({ verifier, requiredScopes: [READ], resourceMetadataUrl: verifier.resourceMetadataUrl }), ok);
  mcp.handle(app);
  adminTokenCache = await adminToken();
});
afterAll(async () => {
  for (const s of servers.splice(0).reverse()) await s.close();
  await env?.close();
});

describe('agent-sts probe', () => {
  it('requireToken in introspect mode is enforcing: every case refused as RFC 6750 says, exit 0, no probe session left', async () => {
    const url = await serve(gateApi({ issuer: env.issuer, audience: API, clientSecret: SECRETS[API]!, scopes: [READ] }));
    const { code, stderr, report } = await probe([API, '--target', `${url}/authz`, ...SCOPED]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(report!.verdict).toBe('enforcing');
    expect(outcomes(report!)).toEqual({
      no_token: 'pass', baseline: 'pass', other_audience: 'pass', other_key: 'pass', other_issuer: 'pass', expired: 'pass', killed: 'pass',
      disabled_delegator: 'pass', missing_scope: 'pass', dpop_as_bearer: 'not_applicable', dpop_other_url: 'not_applicable', query_string: 'pass',
    });
    expect(caseOf(report!, 'baseline')).toEqual({ id: 'baseline', outcome: 'pass', status: 200, challenge: null });
    expect(caseOf(report!, 'missing_scope')).toMatchObject({ status: 403, challenge: expect.stringMatching(/^Bearer .*error="insufficient_scope"/) });
    expect(caseOf(report!, 'killed')).toMatchObject({ status: 401, challenge: expect.stringMatching(/error="invalid_token"/), latencyMs: expect.any(Number) });
    expect(report!.killLatencyMs).toBe(caseOf(report!, 'killed').latencyMs);
    expect(report!.cleanup.revoked).toEqual(expect.any(Number));
    expect(await probeSessions(API)).toBe(0);
    // the delegating agent was enabled again, the agents are the probe's own
    const main = (await env.sts.deps.registry.agent(probeAgentBase(API)))!;
    expect({ disabled: main.disabled, audiences: Object.keys(main.audiences) }).toEqual({ disabled: false, audiences: [API, 'urn:agent-sts:probe:other-audience'] });

    // recorded: the audit record carries every case, the access review the verdict
    const records = env.sts.events.events.filter((e) => e.type === 'resource_server.probed');
    expect(records.at(-1)).toMatchObject({ type: 'resource_server.probed', resourceServer: API, by: ADMIN, verdict: 'enforcing', killLatencyMs: report!.killLatencyMs, cases: report!.cases });
    const review = (await adminGet('/admin/access-review')).body as { resourceServers: ResourceServerReview[] };
    expect(review.resourceServers.find((s) => s.resourceServer === API)).toEqual({
      resourceServer: API, findings: [],
      lastProbe: { verdict: 'enforcing', at: report!.finishedAt, recorded: expect.any(String), target: `${url}/authz`, killLatencyMs: report!.killLatencyMs, failed: [], by: ADMIN, ageSeconds: expect.any(Number) },
    });
    expect(review.resourceServers.find((s) => s.resourceServer === OTHER_API)).toEqual({
      resourceServer: OTHER_API, lastProbe: null, findings: [{ kind: 'unprobed_resource_server', detail: 'never probed: run agent-sts probe' }],
    });
  });

  it('with --dpop the DPoP cases run: a bound token as Bearer, and a proof for another URL, are refused', async () => {
    const url = await serve(gateApi({ issuer: env.issuer, audience: API, clientSecret: SECRETS[API]!, scopes: [READ] }));
    const { code, report } = await probe([API, '--target', `${url}/authz`, '--dpop', ...SCOPED]);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 0, verdict: 'enforcing' });
    expect(caseOf(report!, 'dpop_as_bearer')).toMatchObject({ outcome: 'pass', status: 401 });
    expect(caseOf(report!, 'dpop_other_url')).toMatchObject({ outcome: 'pass', status: 401 });
    expect(await probeSessions(API)).toBe(0);
  });

  it('requireToken in local mode with the revocation feed is enforcing, its kill latency reported', async () => {
    const url = await serve(gateApi({ issuer: env.issuer, audience: API, mode: 'local', clientSecret: SECRETS[API]!, scopes: [READ] }));
    const { code, report } = await probe([API, '--target', `${url}/authz`, ...SCOPED]);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 0, verdict: 'enforcing' });
    expect(report!.killLatencyMs).toEqual(expect.any(Number));
    expect(caseOf(report!, 'disabled_delegator')).toMatchObject({ outcome: 'pass', status: 401, latencyMs: expect.any(Number) });
  });

  it('requireToken in local mode without a feed is kill-blind: exit 2, the killed and disabled-delegator cases fail', async () => {
    const url = await serve(gateApi({ issuer: env.issuer, audience: API, mode: 'local', scopes: [READ] }));
    const { code, stderr, report } = await probe([API, '--target', `${url}/authz`, ...SCOPED]);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 2, verdict: 'kill_blind' });
    expect(stderr).toMatch(/^error: not enforcing: kill-blind/);
    expect(caseOf(report!, 'killed')).toMatchObject({ outcome: 'fail', status: 200, latencyMs: null });
    expect(caseOf(report!, 'disabled_delegator')).toMatchObject({ outcome: 'fail', status: 200 });
    expect(report!.killLatencyMs).toBeNull();
    expect(outcomes(report!)).toMatchObject({ other_audience: 'pass', other_key: 'pass', other_issuer: 'pass', expired: 'pass' });
    expect(await probeSessions(API)).toBe(0);

    const finding = { kind: 'resource_server_not_enforcing', detail: expect.stringContaining(': kill_blind, failed killed disabled_delegator') };
    const review = (await adminGet('/admin/access-review')).body as { resourceServers: ResourceServerReview[] };
    expect(review.resourceServers.find((s) => s.resourceServer === API)).toMatchObject({ lastProbe: { verdict: 'kill_blind', killLatencyMs: null }, findings: [finding] });
    const csv = (await adminGet('/admin/access-review').set('Accept', 'text/csv')).text.split('\r\n');
    expect(csv).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^,,,resource_server,${API.replace(/\./g, '\\.')},,"?last probe kill_blind at `)),
      expect.stringMatching(new RegExp(`^,,,resource_server_not_enforcing,${API.replace(/\./g, '\\.')},,"?last probe .*kill_blind`)),
    ]));
  });

  it("Auth0's express-oauth2-jwt-bearer, configured as its README says, is kill-blind (and takes the token from the query string)", async () => {
    const app = express().get('/authz', auth({ issuerBaseURL: env.issuer, audience: API }), requiredScopes(READ), ok);
    const url = await serve(app);
    const { code, report } = await probe([API, '--target', `${url}/authz`, ...SCOPED]);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 2, verdict: 'kill_blind' });
    expect(outcomes(report!)).toMatchObject({
      no_token: 'pass', other_audience: 'pass', other_key: 'pass', other_issuer: 'pass', expired: 'pass', missing_scope: 'pass',
      killed: 'fail', disabled_delegator: 'fail', query_string: 'fail',
    });
  });

  it('an API that checks the signature but not the audience is audience-blind', async () => {
    const jwks = createRemoteJWKSet(new URL(`${env.issuer}/jwks`));
    const app = express().get('/authz', async (req, res) => {
      try {
        await jwtVerify(String(req.headers.authorization).replace(/^Bearer /, ''), jwks, { issuer: env.issuer });
        res.json({ ok: true });
      } catch {
        res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').end();
      }
    });
    const url = await serve(app);
    const { code, report } = await probe([API, '--target', `${url}/authz`, ...WAITS]);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 2, verdict: 'audience_blind' });
    expect(caseOf(report!, 'other_audience')).toMatchObject({ outcome: 'fail', status: 200 });
    expect(caseOf(report!, 'missing_scope')).toMatchObject({ outcome: 'not_applicable' });
  });

  it('a route with no check at all is open', async () => {
    const url = await serve(express().get('/authz', ok));
    const { code, report } = await probe([API, '--target', `${url}/authz`, '--kill-wait', '1s', '--expiry-grace', '1s']);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 2, verdict: 'open' });
    expect(caseOf(report!, 'no_token')).toMatchObject({ outcome: 'fail', status: 200 });
    expect(await probeSessions(API)).toBe(0);
  });

  it('an MCP SDK server behind requireBearerAuth with agent-sts\'s verifier is enforcing, its challenge pointing to its RFC 9728 metadata', async () => {
    const { code, report } = await probe([mcpUrl, '--target', `${mcpUrl}/authz`, ...SCOPED]);
    expect({ code, verdict: report!.verdict }).toEqual({ code: 0, verdict: 'enforcing' });
    expect(caseOf(report!, 'no_token')).toMatchObject({ outcome: 'pass', status: 401, challenge: expect.stringContaining('resource_metadata=') });
    expect(caseOf(report!, 'no_token').note).toBeUndefined();
    expect(caseOf(report!, 'missing_scope')).toMatchObject({ outcome: 'pass', status: 403, challenge: expect.stringContaining('insufficient_scope') });
    expect(await probeSessions(mcpUrl)).toBe(0);
  });

  it('an API wired to another audience refuses the baseline: setup wrong, exit 2, the probe stops there and kills its session', async () => {
    const url = await serve(gateApi({ issuer: env.issuer, audience: OTHER_API, clientSecret: SECRETS[OTHER_API]! }));
    const { code, report } = await probe([API, '--target', `${url}/authz`, ...WAITS]);
    expect({ code, verdict: report!.verdict, cases: report!.cases.map((c) => c.id) }).toEqual({ code: 2, verdict: 'setup_wrong', cases: ['no_token', 'baseline'] });
    expect(caseOf(report!, 'baseline')).toMatchObject({ outcome: 'fail', status: 401 });
    expect(report!.cleanup.revoked).toBe(1);
    expect(await probeSessions(API)).toBe(0);
  });

  it.each([
    ['no --target', [API], /required option '--target <url>'/],
    ['a scope the resource server does not have', [API, '--target', 'http://127.0.0.1:9/x', '--scope', 'nope:read'], /scope 'nope:read' is not one of/],
    ['plain http to another host', [API, '--target', 'http://api.example.com/authz'], /refusing plain http/],
    ['a kill wait over 5 minutes', [API, '--target', 'http://127.0.0.1:9/x', '--kill-wait', '6m'], /--kill-wait must be/],
  ])('%s: exit 1 with a message, nothing probed', async (_what, args, message) => {
    const r = await probe(args);
    expect({ code: r.code, report: r.report }).toEqual({ code: 1, report: undefined });
    expect(r.stderr).toMatch(message);
  });
});

describe('POST /admin/resource-servers/:id/probes', () => {
  const at = '2026-12-07T12:00:00.000Z';
  const report = (extra: Record<string, unknown> = {}) => ({
    resourceServer: OTHER_API, target: 'https://other.example.com/authz', scope: null, dpop: false, verdict: 'open', killLatencyMs: null, killWaitMs: 10_000,
    startedAt: at, finishedAt: at, cases: [{ id: 'baseline', outcome: 'pass', status: 200, challenge: null }, { id: 'no_token', outcome: 'fail', status: 200, challenge: null }], ...extra,
  });
  const post = (token: string, body: unknown, id = OTHER_API) => request(env.sts.app).post(`/admin/resource-servers/${encodeURIComponent(id)}/probes`)
    .set('Authorization', `Bearer ${token}`).send(body as object);
  const probed = () => env.sts.events.events.filter((e) => e.type === 'resource_server.probed').length;

  it.each([
    ['a reader (agents:read only)', 'agents:read', report(), 403, 'insufficient_scope'],
    ['a verdict the probe does not give', 'agents:manage', report({ verdict: 'fine' }), 400, 'invalid_request'],
    ['an unknown member', 'agents:manage', report({ extra: 1 }), 400, 'invalid_request'],
    ['a case twice', 'agents:manage', report({ cases: [{ id: 'baseline', outcome: 'pass', status: 200, challenge: null }, { id: 'baseline', outcome: 'pass', status: 200, challenge: null }] }), 400, 'invalid_request'],
    ['another resource server than the URL\'s', 'agents:manage', report({ resourceServer: API }), 400, 'invalid_request'],
  ])('%s: refused, nothing recorded or kept', async (_what, scope, body, status, error) => {
    const before = [probed(), (await env.sts.deps.stores.probes!.all()).get(OTHER_API)];
    const res = await post(await adminToken(scope), body);
    expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
    expect([probed(), (await env.sts.deps.stores.probes!.all()).get(OTHER_API)]).toEqual(before);
  });

  it('an unregistered resource server: 404', async () => {
    const res = await post(await adminToken('agents:manage'), report({ resourceServer: 'https://nowhere.example' }), 'https://nowhere.example');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 404, error: 'not_found' });
  });

  it('a report is recorded (resource_server.probed), kept as the last probe, and an open API becomes a finding', async () => {
    const res = await post(await adminToken('agents:manage'), report());
    expect({ status: res.status, body: res.body }).toEqual({ status: 201, body: { recorded: true, resourceServer: OTHER_API, verdict: 'open' } });
    expect(env.sts.events.events.at(-1)).toMatchObject({ type: 'resource_server.probed', resourceServer: OTHER_API, verdict: 'open', by: ADMIN });
    const review = (await adminGet('/admin/access-review')).body as { resourceServers: ResourceServerReview[] };
    expect(review.resourceServers.find((s) => s.resourceServer === OTHER_API)!.findings).toEqual([
      { kind: 'resource_server_not_enforcing', detail: expect.stringMatching(/: open, failed no_token$/) },
    ]);
  });
});

