import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DIST, runNode, startBuiltServer, type BuiltServer } from '../helpers/dist.js';
import { basic } from '../helpers/sts.js';

/**
 * The path a new user takes: the built server started in an empty directory with nothing configured
 * (no REDIS_URL, keys or registry; development mode). It writes a signing key and the demo registry,
 * prints the demo secrets once, and answers a client_credentials request made with them; a second
 * start in the same directory creates nothing and prints no secret.
 */

const DEMO_API = 'https://api.example.com';
const STEP_TIMEOUT_MS = 45_000;

/** The `    <client id>   <secret>` lines under "Client secrets" in the first start's output. */
function printedSecrets(stdout: string): Record<string, string> {
  const block = stdout.split('Client secrets')[1] ?? '';
  return Object.fromEntries([...block.matchAll(/^ {4}(\S+) +([A-Za-z0-9_-]{43})$/gm)].map((m) => [m[1]!, m[2]!]));
}

function tokenRequest(server: BuiltServer, secret: string): Promise<Response> {
  return fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: basic('demo-agent', secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: DEMO_API, scope: 'invoices:read' }),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
}

describe('first start with nothing configured', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-first-start-'));
  const running: BuiltServer[] = [];
  let secrets: Record<string, string> = {};
  let first: BuiltServer;

  beforeAll(async () => {
    first = await startBuiltServer(dir);
    running.push(first);
    secrets = printedSecrets(first.stdout());
  }, STEP_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
  }, STEP_TIMEOUT_MS);

  it('prints the demo registry’s four secrets, once', () => {
    expect(Object.keys(secrets).sort()).toEqual(['admin', 'demo-agent', 'demo-subagent', DEMO_API].sort());
    expect(first.stdout().split('Client secrets')).toHaveLength(2);
    expect(first.stdout()).toContain(`Demo registry written to ${path.join(dir, 'config/registry.json')}`);
  });

  it('wrote one signing key and config/registry.json, which holds hashes, not the secrets', () => {
    expect(readdirSync(path.join(dir, 'keys')).filter((f) => f.endsWith('.jwk.json'))).toHaveLength(1);
    const registry = readFileSync(path.join(dir, 'config/registry.json'), 'utf8');
    expect(JSON.parse(registry)).toMatchObject({ agents: expect.arrayContaining([expect.objectContaining({ id: 'demo-agent' })]) });
    for (const secret of Object.values(secrets)) expect(registry).not.toContain(secret);
  });

  it('answers client_credentials for demo-agent with its printed secret: 200 and a token', async () => {
    const res = await tokenRequest(running.at(-1)!, secrets['demo-agent']!);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', scope: 'invoices:read' });
  });

  it('a second start in the same directory prints no secret, creates nothing, and the printed secret still works', async () => {
    const keysBefore = readdirSync(path.join(dir, 'keys')).sort();
    const registryBefore = readFileSync(path.join(dir, 'config/registry.json'), 'utf8');
    await first.stop();
    const second = await startBuiltServer(dir);
    running.push(second);
    expect(second.stdout()).not.toContain('Client secrets');
    for (const secret of Object.values(secrets)) expect(second.stdout()).not.toContain(secret);
    expect(readdirSync(path.join(dir, 'keys')).sort()).toEqual(keysBefore);
    expect(readFileSync(path.join(dir, 'config/registry.json'), 'utf8')).toBe(registryBefore);
    expect((await tokenRequest(second, secrets['demo-agent']!)).status).toBe(200);
  }, STEP_TIMEOUT_MS);
  it('in development GET / sends a browser to the console, whose URL the start-up log names', async () => {
    const server = running.at(-1)!;
    const res = await fetch(`${server.url}/`, { redirect: 'manual' });
    expect({ status: res.status, location: res.headers.get('location') }).toEqual({ status: 302, location: '/console/' });
    const port = new URL(server.url).port;
    expect(server.stdout()).toContain(`"console":"http://localhost:${port}/console/","msg":"admin console at http://localhost:${port}/console/"`);
  });

  it('a port already in use ends the start with one line on stderr and exit 1, no stack trace', async () => {
    const port = new URL(running.at(-1)!.url).port;
    const r = await runNode([path.join(DIST, 'bin/agent-sts-server.js')], { cwd: dir, env: { HOST: '127.0.0.1', PORT: port } });
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 1, stderr: `agent-sts failed to start: 127.0.0.1:${port} is already in use (another agent-sts still running?): stop it, or set PORT\n`,
    });
  }, STEP_TIMEOUT_MS);
});
