import { AGENT_KILL_CLOCK_SKEW_MS } from '../../src/store/types.js';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { AdminClient } from '../../src/cli/admin-client.js';
import { run, type CliIo } from '../../src/cli/index.js';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { DIST, runNode, startNode } from '../helpers/dist.js';
import { freePort } from '../helpers/redis-process.mjs';
import { sidOf } from '../helpers/responses.js';
import { ADMIN_AUD, API, basic, clientCredentials, exchange, EXCHANGE, introspect, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { sleep } from '../helpers/wait.js';

/** The built `agent-sts` admin commands against a real server on a real Redis: exit codes, output, and the server's state after. */

const BIN = path.join(DIST, 'bin/agent-sts.js');
const CLI_ADMIN = 'cli-admin';
const CLI_ADMIN_SECRET = 'cli-admin-secret-0123456789abcdefghijkl';
const NEW_AGENT = 'report-bot';

describe('agent-sts admin commands', () => {
  let sts: TestSts;
  let server: Server;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runNode([BIN, ...args], { env: { ...env, ...extraEnv } });

  beforeAll(async () => {
    // The socket first: the issuer is the URL the CLI calls, since DPoP proofs name it (htu).
    server = createServer((req, res) => sts.app(req, res)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sts = await startSts({
      live: true,
      issuer: url,
      registry: testRegistry({
        agents: [{ id: CLI_ADMIN, owner: 'platform', secretHash: hashSecret(CLI_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] }, requireDpop: true }],
      }),
    });
    // A config directory of the test's own: no login of the machine's user is read or written.
    env = { AGENT_STS_URL: url, AGENT_STS_CLIENT_ID: CLI_ADMIN, AGENT_STS_CLIENT_SECRET: CLI_ADMIN_SECRET, AGENT_STS_CONFIG_DIR: mkdtempSync(path.join(tmpdir(), 'agent-sts-conf-')) };
  });
  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    await sts?.close();
  });

  /** The admin API read directly (supertest, as another admin: the CLI's needs DPoP), to check what a command changed. */
  async function adminGet(p: string) {
    const token = (await request(sts.app).post('/token').set('Authorization', basic('auditor')).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'agents:read' })).body.access_token as string;
    return request(sts.app).get(`/admin${p}`).set('Authorization', `Bearer ${token}`);
  }
  const active = async (token: string) => (await introspect(sts, token)).body.active as boolean;
  const tokenFor = (agent: string, secret: string) => request(sts.app).post('/token').set('Authorization', basic(agent, secret)).type('form')
    .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });

  it('sessions ls, show (a tree) and kill: the whole subtree is inactive afterwards', async () => {
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const child = (await exchange(sts, 'sub-agent', root, API, 'invoices:read')).body.access_token as string;
    const [sid, childSid] = [sidOf(root), sidOf(child)];

    const [ls, show] = await Promise.all([cli(['sessions', 'ls', '--sub', 'billing-agent', '--json']), cli(['sessions', 'show', sid])]);
    expect({ code: ls.code, stderr: ls.stderr }).toEqual({ code: 0, stderr: '' });
    const listed = (JSON.parse(ls.stdout) as { sessions: { sid: string; agent: string }[] }).sessions;
    expect(listed.map((s) => s.sid)).toEqual(expect.arrayContaining([sid, childSid]));
    expect({ code: show.code, stderr: show.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = show.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^${sid}  billing-agent  ${API}  invoices:read  until \\S+Z$`)),
      expect.stringMatching(new RegExp(`^└─ ${childSid.replace('.', '\\.')}  sub-agent for billing-agent  `)),
    ]);

    const kill = await cli(['sessions', 'kill', sid]);
    expect(kill).toEqual({ code: 0, stdout: 'revoked 2 sessions\n', stderr: '' });
    expect([await active(root), await active(child)]).toEqual([false, false]);
  });

  it('agents create, ls, show, disable, enable, rotate --overlap, rm: each visible in the registry and at /token', async () => {
    const created = await cli(['agents', 'create', NEW_AGENT, '--owner', 'team-finance', '--audience', `${API}=invoices:read`, '--ttl', '2m', '--json']);
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
    const body = JSON.parse(created.stdout) as { id: string; owner: string; maxTokenTtlSeconds: number; client_secret: string };
    expect(body).toMatchObject({ id: NEW_AGENT, owner: 'team-finance', maxTokenTtlSeconds: 120, audiences: { [API]: ['invoices:read'] } });
    const firstSecret = body.client_secret;
    const token = (await tokenFor(NEW_AGENT, firstSecret)).body.access_token as string;

    const [ls, show] = await Promise.all([cli(['agents', 'ls']), cli(['agents', 'show', NEW_AGENT])]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^ID +OWNER +STATUS +AUDIENCES +SOURCE\n(.*\n)*${NEW_AGENT} +team-finance +enabled +${API} +api\n`));
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^id: +report-bot\nowner: +team-finance\n/);
    expect(show.stdout).toMatch(new RegExp(`\n${API} +invoices:read\n`));

    const disable = await cli(['agents', 'disable', NEW_AGENT]);
    const disabledAt = Date.now();
    expect(disable).toEqual({ code: 0, stdout: `disabled ${NEW_AGENT}; revoked 1 session\n`, stderr: '' });
    expect(await active(token)).toBe(false);
    expect((await tokenFor(NEW_AGENT, firstSecret)).status).toBe(401);

    const enable = await cli(['agents', 'enable', NEW_AGENT]);
    expect(enable).toEqual({ code: 0, stdout: `enabled ${NEW_AGENT}\n`, stderr: '' });

    const rotated = await cli(['agents', 'rotate', NEW_AGENT, '--overlap', '1h']);
    expect({ code: rotated.code, stderr: rotated.stderr }).toEqual({ code: 0, stderr: '' });
    const [summary, notice, newSecret, ...rest] = rotated.stdout.split('\n');
    expect(summary).toMatch(new RegExp(`^new secret \\S+ for ${NEW_AGENT}; the previous secrets work until \\S+Z$`));
    expect(notice).toBe('client secret (shown once, keep it now):');
    expect(rest).toEqual(['']);
    const until = Date.parse(summary!.split('until ')[1]!);
    expect(until - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(until - Date.now()).toBeLessThanOrEqual(3_600_000);
    // The disable's agent-wide kill refuses requests that arrived up to AGENT_KILL_CLOCK_SKEW_MS after it (one instance's clock may run behind another's).
    await sleep(Math.max(0, disabledAt + AGENT_KILL_CLOCK_SKEW_MS - Date.now()));
    expect([(await tokenFor(NEW_AGENT, newSecret!)).status, (await tokenFor(NEW_AGENT, firstSecret)).status]).toEqual([200, 200]);

    const rm = await cli(['agents', 'rm', NEW_AGENT, '-o', 'json']);
    expect({ code: rm.code, stderr: rm.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(rm.stdout)).toEqual({ deleted: true, revoked: 2 });
    expect((await adminGet(`/agents/${NEW_AGENT}`)).status).toBe(404);
    expect((await tokenFor(NEW_AGENT, newSecret!)).status).toBe(401);
  });

  it('agents update merges the flags, or a JSON merge patch from --file, into the agent', async () => {
    const up = await cli(['agents', 'update', 'leaf-agent', '--description', 'reads invoices', '--ttl', '30s']);
    expect(up).toEqual({ code: 0, stdout: 'updated agent leaf-agent; revoked 0 sessions\n', stderr: '' });
    expect((await adminGet('/agents/leaf-agent')).body).toMatchObject({ description: 'reads invoices', maxTokenTtlSeconds: 30, audiences: { [API]: ['invoices:read'] } });

    const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-cli-'));
    writeFileSync(path.join(dir, 'patch.json'), JSON.stringify({ description: null, maxDelegationDepth: 1 }));
    const fromFile = await runNode([BIN, 'agents', 'update', 'leaf-agent', '--file', 'patch.json'], { cwd: dir, env });
    expect(fromFile).toEqual({ code: 0, stdout: 'updated agent leaf-agent; revoked 0 sessions\n', stderr: '' });
    expect((await adminGet('/agents/leaf-agent')).body).toMatchObject({ description: null, maxDelegationDepth: 1, maxTokenTtlSeconds: 30 });
  });

  it('agents update --grant-types sets the list; --no-token-exchange and --token-exchange (the deprecated alias) remove and add one', async () => {
    const grantTypes = async () => (await adminGet('/agents/outsider-agent')).body.grantTypes as string[];
    expect(await cli(['agents', 'update', 'outsider-agent', '--no-token-exchange'])).toMatchObject({ code: 0, stderr: '' });
    expect(await grantTypes()).toEqual(['client_credentials']);
    expect(await cli(['agents', 'update', 'outsider-agent', '--token-exchange'])).toMatchObject({ code: 0, stderr: '' });
    expect(await grantTypes()).toEqual(['client_credentials', EXCHANGE]);
    expect(await cli(['agents', 'update', 'outsider-agent', '--grant-types', EXCHANGE])).toMatchObject({ code: 0, stderr: '' });
    expect(await grantTypes()).toEqual([EXCHANGE]);
    const show = await cli(['agents', 'show', 'outsider-agent']);
    expect(show.stdout).toMatch(new RegExp(`\ngrant types: +${EXCHANGE}\n`));
    expect(await cli(['agents', 'update', 'outsider-agent', '--grant-types', `client_credentials,${EXCHANGE}`])).toMatchObject({ code: 0, stderr: '' });
    expect(await grantTypes()).toEqual(['client_credentials', EXCHANGE]);
  });

  it('access AGENT and access --all: the live review', async () => {
    const [one, all] = await Promise.all([cli(['access', 'billing-agent', '--days', '7']), cli(['access', '--all', '--json'])]);
    expect({ code: one.code, stderr: one.stderr }).toEqual({ code: 0, stderr: '' });
    expect(one.stdout).toMatch(/^billing-agent \(owner team-billing, enabled\): the last 7 days\n\nTARGET +SCOPE +ISSUED +LAST ISSUED +INTROSPECTED +HELD\n/);
    expect(one.stdout).toMatch(new RegExp(`\n${API} +invoices:write +0 +- +0 +0\n`));
    expect(one.stdout).toMatch(/\nunused_entitlement +invoices:write at/);
    expect({ code: all.code, stderr: all.stderr }).toEqual({ code: 0, stderr: '' });
    const ids = (JSON.parse(all.stdout) as { agents: { agent: string }[] }).agents.map((a) => a.agent);
    expect(ids).toEqual(expect.arrayContaining(['billing-agent', CLI_ADMIN]));
  });

  it('audit tail -f prints a kill made while it follows, and stops cleanly on SIGTERM; audit verify passes', async () => {
    const holder = (await clientCredentials(sts, 'outsider-agent', API, 'invoices:read')).access_token;
    const tail = startNode([BIN, 'audit', 'tail', '-f', '-n', '1', '--json'], { env });
    await tail.waitFor(/\n/);
    const kill = await cli(['subjects', 'kill', 'outsider-agent']);
    expect(kill).toEqual({ code: 0, stdout: 'revoked 1 session of outsider-agent\n', stderr: '' });
    expect(await active(holder)).toBe(false);
    await tail.waitFor(/"type":"subject.sessions_revoked"/);
    expect(await tail.stop('SIGTERM')).toBe(0);
    expect(tail.stderr()).toBe('');
    const records = tail.stdout().trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string; sub?: string; revoked?: number });
    const seqs = records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(records.find((r) => r.type === 'subject.sessions_revoked')).toMatchObject({ sub: 'outsider-agent', revoked: 1 });

    const [recent, verify] = await Promise.all([cli(['audit', 'tail', '-n', '3', '--type', 'subject.sessions_revoked']), cli(['audit', 'verify'])]);
    expect({ code: recent.code, stderr: recent.stderr }).toEqual({ code: 0, stderr: '' });
    expect(recent.stdout).toMatch(/^\d+ {2}\S+Z {2}subject\.sessions_revoked {2}.*revoked=1 {2}.*sub=outsider-agent$/m);
    expect({ code: verify.code, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' });
    expect(verify.stdout).toMatch(/^the trail verifies: [1-9]\d* records checked, seq 1 to \d+\nhead: seq \d+ hash [0-9a-f]{40}\n$/);
  });

  it('usage errors exit 1 without calling the server; server errors exit 2 with the OAuth error', async () => {
    const [noSid, bareUpdate, badOverlap, noCreds, unknownSid, badSecret, noScope, unreachable] = await Promise.all([
      cli(['sessions', 'show']),
      cli(['agents', 'update', 'leaf-agent']),
      cli(['agents', 'rotate', 'leaf-agent', '--overlap', '1y']),
      cli(['sessions', 'ls'], { AGENT_STS_CLIENT_SECRET: '' }),
      cli(['sessions', 'show', 'no-such-session']),
      cli(['sessions', 'ls'], { AGENT_STS_CLIENT_SECRET: 'wrong-secret-0123456789abcdefghijklmnop' }),
      cli(['sessions', 'ls'], { AGENT_STS_CLIENT_ID: 'billing-agent', AGENT_STS_CLIENT_SECRET: 'billing-agent-secret-0123456789abcdef' }),
      freePort().then((port) => cli(['sessions', 'ls'], { AGENT_STS_URL: `http://127.0.0.1:${port}` })),
    ]);
    expect(noSid).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^error: missing required argument 'sid'/) });
    expect(bareUpdate).toEqual({ code: 1, stdout: '', stderr: 'error: nothing to change: give a flag or --file\n' });
    expect(badOverlap).toEqual({ code: 1, stdout: '', stderr: "error: '1y' is not a duration: a whole number with s, m, h or d (e.g. 1h)\n" });
    expect(noCreds).toEqual({
      code: 1, stdout: '', stderr: "error: the admin API needs the client secret (AGENT_STS_CLIENT_SECRET, --client-secret-file FILE or --client-secret-stdin), or a login ('agent-sts login')\n",
    });
    expect(unknownSid).toEqual({ code: 2, stdout: '', stderr: 'error: not_found (404): no live session with that id\n' });
    expect(badSecret).toEqual({ code: 2, stdout: '', stderr: 'error: invalid_client (401): client authentication failed\n' });
    expect(noScope).toEqual({ code: 2, stdout: '', stderr: expect.stringMatching(/^error: invalid_target \(400\): .+\n$/) });
    expect(unreachable).toEqual({ code: 2, stdout: '', stderr: `error: cannot reach ${unreachableUrl(unreachable.stderr)}: ECONNREFUSED\n` });
    expect((await adminGet('/agents/leaf-agent')).body.credentials).toHaveLength(1);
  });

  it('a requireDpop admin: each run binds its admin token to a key of its own (cnf.jkt), and the commands work with it', async () => {
    const ofAdmin = async () => sts.deps.sessions.list({ agent: CLI_ADMIN }, 1_000);
    const before = new Set((await ofAdmin()).map((s) => s.sid));
    const [ls, agents] = await Promise.all([cli(['sessions', 'ls', '--json']), cli(['agents', 'ls', '--json'])]);
    expect([ls.code, ls.stderr, agents.code, agents.stderr]).toEqual([0, '', 0, '']);
    const jkts = (await ofAdmin()).filter((s) => !before.has(s.sid)).map((s) => s.cnf?.jkt);
    expect(jkts).toEqual([expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)]);
    expect(jkts[0]).not.toBe(jkts[1]);
  });

  it('a URL that is not the issuer: the proof names the wrong URL, and the error says which URL to use', async () => {
    const port = new URL(env.AGENT_STS_URL!).port;
    const r = await cli(['sessions', 'ls'], { AGENT_STS_URL: `http://localhost:${port}` });
    expect(r).toEqual({
      code: 2, stdout: '',
      stderr: "error: invalid_dpop_proof (400): the DPoP proof's htu is not this request's URL (AGENT_STS_URL must be the service's issuer URL, STS_ISSUER)\n",
    });
  });

  it('the secret comes from AGENT_STS_CLIENT_SECRET, --client-secret-file or --client-secret-stdin; --client-secret is refused before anything is sent', async () => {
    const issued = () => sts.events.events.filter((e) => e.type === 'token.issued' && e.agent === CLI_ADMIN).length;
    const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-cli-'));
    const file = path.join(dir, 'secret');
    writeFileSync(file, `${CLI_ADMIN_SECRET}\n`, { mode: 0o600 });
    const wrongInEnv = { AGENT_STS_CLIENT_SECRET: 'wrong-secret-0123456789abcdefghijklmnop' };
    const before = issued();
    const [fromFile, fromStdin, flag, twoWays, stdinTwice, emptyFile] = await Promise.all([
      cli(['sessions', 'ls', '--json', '--client-secret-file', file], wrongInEnv),
      runNode([BIN, 'sessions', 'ls', '--json', '--client-secret-stdin'], { env: { ...env, ...wrongInEnv }, input: `${CLI_ADMIN_SECRET}\n` }),
      cli(['sessions', 'ls', '--client-secret', CLI_ADMIN_SECRET]),
      cli(['sessions', 'ls', '--client-secret-file', file, '--client-secret-stdin']),
      runNode([BIN, 'agents', 'update', 'leaf-agent', '--file', '-', '--client-secret-stdin'], { env, input: `${CLI_ADMIN_SECRET}\n` }),
      cli(['sessions', 'ls', '--client-secret-file', '/dev/null']),
    ]);
    expect([fromFile.code, fromFile.stderr, fromStdin.code, fromStdin.stderr]).toEqual([0, '', 0, '']);
    expect(flag).toEqual({
      code: 1, stdout: '',
      stderr: 'error: --client-secret is not accepted: a command line shows in ps. Give the secret in AGENT_STS_CLIENT_SECRET, --client-secret-file FILE or --client-secret-stdin\n',
    });
    expect(twoWays).toEqual({ code: 1, stdout: '', stderr: 'error: give the client secret one way: --client-secret-file or --client-secret-stdin\n' });
    expect(stdinTwice).toEqual({ code: 1, stdout: '', stderr: 'error: standard input cannot hold both the client secret and --file -\n' });
    expect(emptyFile).toEqual({ code: 1, stdout: '', stderr: 'error: /dev/null holds no client secret\n' });
    expect(issued() - before).toBe(2);
  });

  it('plain http only to loopback: another host is refused before anything is sent; localhost is let through', async () => {
    const refusal = (host: string) => ({
      code: 1, stdout: '',
      stderr: `error: refusing plain http to ${host}: the client secret and admin tokens would cross the network in clear. `
        + 'Use https (plain http is allowed only to localhost, 127.0.0.0/8 and [::1]), or --insecure for a lab\n',
    });
    const [named, private10, flag, localhost] = await Promise.all([
      cli(['sessions', 'ls'], { AGENT_STS_URL: 'http://sts.example.com' }),
      cli(['sessions', 'ls'], { AGENT_STS_URL: 'http://10.1.2.3:8080' }),
      cli(['sessions', 'ls', '--url', 'http://sts.example.com/']),
      // a free port on this machine: it gets as far as connecting, which is refused
      freePort().then((port) => cli(['sessions', 'ls'], { AGENT_STS_URL: `http://localhost:${port}` })),
    ]);
    expect([named, private10, flag]).toEqual([refusal('sts.example.com'), refusal('10.1.2.3:8080'), refusal('sts.example.com')]);
    expect({ code: localhost.code, stderr: localhost.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^error: cannot reach http:\/\/localhost:\d+: ECONNREFUSED\n$/) });
  });

  it('resource-servers create, ls, show, update, rotate, push set/show/rm, rm: each visible in the registry and at /introspect', async () => {
    const RS = 'https://ledger.example.com';
    const created = await cli(['resource-servers', 'create', RS, '--scopes', 'ledger:read,ledger:write']);
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
    const [line, notice, secret, ...rest] = created.stdout.split('\n');
    expect([line, notice, rest]).toEqual([`created resource server ${RS}`, 'client secret (shown once, keep it now):', ['']]);
    const introspectAs = (id: string, pw: string) => request(sts.app).post('/introspect').set('Authorization', basic(id, pw)).type('form').send({ token: 'x' });
    expect((await introspectAs(RS, secret!)).status).toBe(200);

    const [ls, show] = await Promise.all([cli(['rs', 'ls']), cli(['resource-servers', 'show', RS, '--json'])]);
    expect(ls.stdout).toMatch(new RegExp(`\n${RS.replace(/\./g, '\\.')} +ledger:read ledger:write +api\n`));
    expect(JSON.parse(show.stdout)).toMatchObject({ id: RS, scopes: ['ledger:read', 'ledger:write'], credentials: [{ type: 'secret' }] });
    expect(await cli(['resource-servers', 'update', RS, '--scopes', 'ledger:read'])).toEqual({ code: 0, stdout: `updated resource server ${RS}: scopes ledger:read\n`, stderr: '' });
    expect((await adminGet(`/resource-servers/${encodeURIComponent(RS)}`)).body.scopes).toEqual(['ledger:read']);

    const rotated = await cli(['resource-servers', 'rotate', RS]);
    expect(rotated.stdout).toMatch(new RegExp(`^new secret \\S+ for ${RS.replace(/\./g, '\\.')}; the previous secrets no longer work\nclient secret \\(shown once, keep it now\\):\n\\S+\n$`));
    const newSecret = rotated.stdout.trimEnd().split('\n').at(-1)!;
    expect([(await introspectAs(RS, newSecret)).status, (await introspectAs(RS, secret!)).status]).toEqual([200, 401]);

    const endpoint = `http://127.0.0.1:${await freePort()}/events`;
    const set = await runNode([BIN, 'rs', 'push', 'set', RS, '--endpoint', endpoint, '--authorization-stdin'], { env, input: 'Bearer push-token\n' });
    // the admin secret is in the environment, so stdin holds only the Authorization value
    expect(set).toEqual({ code: 0, stdout: `${RS} is pushed to ${endpoint} with an Authorization header\n`, stderr: '' });
    const pushShow = await cli(['rs', 'push', 'show', RS, '--json']);
    expect(JSON.parse(pushShow.stdout)).toMatchObject({ endpoint, authorization: true });
    expect(pushShow.stdout).not.toContain('push-token');
    expect(await cli(['rs', 'push', 'rm', RS])).toEqual({ code: 0, stdout: `no longer pushing to ${RS}\n`, stderr: '' });
    expect((await adminGet(`/resource-servers/${encodeURIComponent(RS)}/ssf-push`)).status).toBe(404);

    expect(await cli(['resource-servers', 'rm', RS])).toEqual({ code: 0, stdout: `deleted ${RS}\n`, stderr: '' });
    expect((await introspectAs(RS, newSecret)).status).toBe(401);
    expect(await cli(['resource-servers', 'create', RS])).toEqual({ code: 1, stdout: '', stderr: 'error: give the scopes it offers: --scopes SCOPE[,SCOPE…] (or --file)\n' });
  });

  it('agents revoke-sessions kills every session of the agent and leaves it enabled; an existing id is a 409 conflict; an unregistered audience is refused', async () => {
    const [one, two] = await Promise.all([clientCredentials(sts, 'leaf-agent', API, 'invoices:read'), clientCredentials(sts, 'leaf-agent', API, 'invoices:read')]);
    expect(await cli(['agents', 'revoke-sessions', 'leaf-agent'])).toEqual({ code: 0, stdout: 'revoked 2 sessions of leaf-agent\n', stderr: '' });
    expect([await active(one.access_token), await active(two.access_token)]).toEqual([false, false]);
    expect((await adminGet('/agents/leaf-agent')).body.disabled).toBe(false);

    const dup = await cli(['agents', 'create', 'leaf-agent', '--owner', 'x', '--audience', `${API}=invoices:read`]);
    expect(dup).toEqual({ code: 2, stdout: '', stderr: "error: conflict (409): agent 'leaf-agent' exists\n" });
    const nowhere = await cli(['agents', 'update', 'leaf-agent', '--audience', 'https://nowhere.example.com=read']);
    expect(nowhere).toEqual({
      code: 2, stdout: '',
      stderr: "error: invalid_request (400): audiences['https://nowhere.example.com']: no resource server 'https://nowhere.example.com' is registered (register it first: POST /admin/resource-servers)\n",
    });
  });

  it('audit verify draws a progress line on a terminal and erases it; nothing extra with --json or in a pipe', async () => {
    const runIn = async (args: string[], tty: boolean) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await run(args, { stdout: { write: (t: string) => out.push(t) }, stderr: { isTTY: tty, write: (t: string) => err.push(t) } as CliIo['stderr'], env, cwd: process.cwd() });
      return { code, stdout: out.join(''), stderr: err.join('') };
    };
    const [terminal, json, pipe] = await Promise.all([runIn(['audit', 'verify'], true), runIn(['audit', 'verify', '--json'], true), runIn(['audit', 'verify'], false)]);
    expect(terminal.code).toBe(0);
    const erase = '\r\u001b[K';
    expect(terminal.stderr.startsWith(`${erase}verifying the audit trail… 0 s`)).toBe(true);
    expect(terminal.stderr.split(erase).slice(1)).toEqual([...terminal.stderr.split(erase).slice(1, -1).map(() => expect.stringMatching(/^verifying the audit trail… \d+ s$/)), '']);
    expect(terminal.stdout).toMatch(/^the trail verifies: /);
    expect([json.code, json.stderr, pipe.code, pipe.stderr]).toEqual([0, '', 0, '']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true });
  });

  it('agents create without --owner or --audience says which, in one line, before calling the server', async () => {
    expect(await cli(['agents', 'create', 'x-agent', '--audience', `${API}=invoices:read`])).toEqual({ code: 1, stdout: '', stderr: 'error: agents create needs --owner OWNER (or the whole agent in --file)\n' });
    expect(await cli(['agents', 'create', 'x-agent', '--owner', 'o'])).toEqual({ code: 1, stdout: '', stderr: 'error: agents create needs --audience TARGET=SCOPE[,SCOPE…] (or the whole agent in --file)\n' });
  });

  describe('login once', () => {
    const ofAdmin = async () => new Set((await sts.deps.sessions.list({ agent: CLI_ADMIN }, 1_000)).map((s) => s.sid));
    /** The environment of a shell after login: the URL and the admin, no secret, a config directory of this test's own. */
    const loggedIn = () => ({ ...env, AGENT_STS_CLIENT_SECRET: '', AGENT_STS_CONFIG_DIR: mkdtempSync(path.join(tmpdir(), 'agent-sts-login-')) });

    it('login keeps one DPoP-bound token (0600); six commands use it and make no other admin session; logout kills it and deletes the file', async () => {
      const shell = loggedIn();
      const file = path.join(shell.AGENT_STS_CONFIG_DIR, 'login.json');
      const before = await ofAdmin();
      const login = await cli(['login'], { ...shell, AGENT_STS_CLIENT_SECRET: CLI_ADMIN_SECRET });
      expect({ code: login.code, stderr: login.stderr }).toEqual({ code: 0, stderr: '' });
      expect(login.stdout).toBe(`logged in to ${env.AGENT_STS_URL} as ${CLI_ADMIN} until ${/until (\S+)/.exec(login.stdout)?.[1]}\n`
        + `scopes: ${ADMIN_SCOPES.join(' ')}\nthe token is kept in ${file} (mode 0600); 'agent-sts logout' ends it\n`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as { accessToken: string; tokenType: string; dpopKey: { privateJwk: { d?: string } } };
      expect(stored.tokenType).toBe('DPoP');
      expect(JSON.stringify(stored)).not.toContain(CLI_ADMIN_SECRET);

      const runs = await Promise.all([['sessions', 'ls', '--json'], ['agents', 'ls'], ['agents', 'show', 'leaf-agent'], ['access', '--all', '--json'],
        ['audit', 'verify'], ['subjects', 'kill', 'nobody-at-all']].map((args) => cli(args, shell)));
      expect(runs.map((r) => [r.code, r.stderr])).toEqual(runs.map(() => [0, '']));
      const added = [...(await ofAdmin())].filter((sid) => !before.has(sid));
      expect(added).toEqual([sidOf(stored.accessToken)]);
      const session = (await sts.deps.sessions.list({ agent: CLI_ADMIN }, 1_000)).find((s) => s.sid === added[0]);
      expect(session?.cnf?.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const logout = await cli(['logout'], shell);
      expect(logout).toEqual({ code: 0, stdout: `logged out: the session of ${CLI_ADMIN} is ended\n`, stderr: '' });
      expect(existsSync(file)).toBe(false);
      expect((await ofAdmin()).has(added[0]!)).toBe(false);
      expect(await sts.deps.sessions.lookup(stored.accessToken)).toBeUndefined();
      expect(sts.events.events.filter((e) => e.type === 'session.revoked' && e.sid === added[0])).toEqual([expect.objectContaining({ reason: 'revocation', by: CLI_ADMIN })]);
      expect(await cli(['sessions', 'ls'], shell)).toMatchObject({ code: 1, stderr: expect.stringMatching(/or a login \('agent-sts login'\)\n$/) });
      expect(await cli(['logout'], shell)).toEqual({ code: 0, stdout: 'not logged in\n', stderr: '' });
    });

    it('an expired, killed, shared or foreign login says what to do; a secret given wins over the login', async () => {
      const shell = loggedIn();
      const file = path.join(shell.AGENT_STS_CONFIG_DIR, 'login.json');
      expect((await cli(['login'], { ...shell, AGENT_STS_CLIENT_SECRET: CLI_ADMIN_SECRET })).code).toBe(0);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as { accessToken: string; expiresAt: string };

      const [otherUrl, otherAdmin, withSecret] = await Promise.all([
        cli(['sessions', 'ls'], { ...shell, AGENT_STS_URL: 'http://127.0.0.1:1' }),
        cli(['sessions', 'ls'], { ...shell, AGENT_STS_CLIENT_ID: 'billing-agent' }),
        cli(['sessions', 'ls', '--json'], { ...shell, AGENT_STS_CLIENT_SECRET: CLI_ADMIN_SECRET }),
      ]);
      expect(otherUrl).toMatchObject({ code: 1, stderr: `error: the login in ${file} is for ${CLI_ADMIN} at ${env.AGENT_STS_URL}, not ${CLI_ADMIN} at http://127.0.0.1:1: `
        + 'log in again, or give that admin\'s secret (AGENT_STS_CLIENT_SECRET, --client-secret-file FILE or --client-secret-stdin)\n' });
      expect(otherAdmin.stderr).toMatch(/is for cli-admin at .*, not billing-agent at /);
      expect([withSecret.code, withSecret.stderr]).toEqual([0, '']);

      chmodSync(file, 0o644);
      expect(await cli(['sessions', 'ls'], shell)).toEqual({ code: 1, stdout: '', stderr: `error: ${file} can be read by other users (mode 644): run 'agent-sts logout' and log in again\n` });
      chmodSync(file, 0o600);

      writeFileSync(file, readFileSync(file, 'utf8').replace(stored.expiresAt, '2020-01-01T00:00:00.000Z'));
      expect(await cli(['sessions', 'ls'], shell)).toEqual({
        code: 1, stdout: '', stderr: `error: the login of ${CLI_ADMIN} at ${env.AGENT_STS_URL} expired at 2020-01-01T00:00:00.000Z: run 'agent-sts login' again\n`,
      });
      writeFileSync(file, readFileSync(file, 'utf8').replace('2020-01-01T00:00:00.000Z', stored.expiresAt));

      await sts.deps.sessions.revokeTree(sidOf(stored.accessToken), 'test', 'admin', { requestId: 'test-kill', startedMs: Date.now() });
      expect(await cli(['sessions', 'ls'], shell)).toEqual({
        code: 1, stdout: '',
        stderr: `error: the login of ${CLI_ADMIN} at ${env.AGENT_STS_URL} is no longer active (logged out, killed, or the server lost its sessions): run 'agent-sts login' again\n`,
      });
      expect(await cli(['logout'], shell)).toEqual({ code: 0, stdout: 'logged out: the session had already ended\n', stderr: '' });
      expect(existsSync(file)).toBe(false);
    });

    it('a second login ends the first one\'s session rather than leaving it live', async () => {
      const shell = { ...loggedIn() };
      const file = path.join(shell.AGENT_STS_CONFIG_DIR, 'login.json');
      const login = () => cli(['login'], { ...shell, AGENT_STS_CLIENT_SECRET: CLI_ADMIN_SECRET });
      expect((await login()).code).toBe(0);
      const first = (JSON.parse(readFileSync(file, 'utf8')) as { accessToken: string }).accessToken;
      expect((await login()).code).toBe(0);
      const second = (JSON.parse(readFileSync(file, 'utf8')) as { accessToken: string }).accessToken;
      expect(await sts.deps.sessions.lookup(first)).toBeUndefined();
      expect(await sts.deps.sessions.lookup(second)).toMatchObject({ agent: CLI_ADMIN });
      expect((await cli(['logout'], shell)).code).toBe(0);
    });
  });

  it('the admin client gets one token per run and a new one only when it nears expiry', async () => {
    let nowMs = Date.now();
    const client = new AdminClient({ url: env.AGENT_STS_URL!, clientId: CLI_ADMIN, clientSecret: CLI_ADMIN_SECRET }, ['sessions:read'], undefined, () => nowMs);
    const issuedToAdmin = () => sts.events.events.filter((e) => e.type === 'token.issued' && e.agent === CLI_ADMIN && e.scope.join(' ') === 'sessions:read').length;
    const before = issuedToAdmin();
    await client.get('/admin/sessions');
    await client.get('/admin/sessions');
    expect(issuedToAdmin() - before).toBe(1);
    nowMs += 24 * 3_600_000;
    await client.get('/admin/sessions');
    expect(issuedToAdmin() - before).toBe(2);
  });
});

/** The URL the message names (the free port differs per run). */
const unreachableUrl = (stderr: string) => /cannot reach (\S+):/.exec(stderr)?.[1] ?? '<none>';
