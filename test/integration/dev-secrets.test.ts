import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { demoSecretsBanner } from '../../src/dev-bootstrap.js';
import { startBuiltServer, type BuiltServer } from '../helpers/dist.js';
import { basic } from '../helpers/sts.js';

/**
 * The demo secrets `npm start` prints are ones that work. With REDIS_URL the registry file only
 * seeds the ids the store lacks: deleting the file and starting again must not print new secrets
 * for ids the store already holds (they would be refused), but say plainly that none was set.
 */

const DEMO_API = 'https://api.example.com';
const DEMO_IDS = ['demo-agent', 'demo-subagent', 'admin', DEMO_API];
const STEP_TIMEOUT_MS = 45_000;

function printedSecrets(stdout: string): Record<string, string> {
  const block = stdout.split('Client secrets')[1] ?? '';
  return Object.fromEntries([...block.matchAll(/^ {4}(\S+) +([A-Za-z0-9_-]{43})$/gm)].map((m) => [m[1]!, m[2]!]));
}

async function tokenStatus(server: BuiltServer, agent: string, secret: string): Promise<number> {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { authorization: basic(agent, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: DEMO_API, scope: 'invoices:read' }),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  return res.status;
}

describe('the demo secrets banner', () => {
  const secrets = Object.fromEntries(DEMO_IDS.map((id) => [id, `${id}-secret`]));

  it('prints every secret when the seed will import every id', () => {
    const out = demoSecretsBanner('/x/registry.json', secrets, new Set());
    expect(printedSecrets(out)).toEqual({});
    for (const id of DEMO_IDS) expect(out).toMatch(new RegExp(`^ {4}${id.replace(/[./]/g, '\\$&')} +${id}-secret$`, 'm'));
    expect(out).not.toContain('No ');
  });

  it('prints only the secrets of the ids the store lacks, and names the others as having none', () => {
    const out = demoSecretsBanner('/x/registry.json', secrets, new Set(['admin', 'demo-agent']));
    expect(out).toContain('demo-subagent-secret');
    expect(out).toContain(`${DEMO_API}-secret`);
    expect(out).not.toContain('admin-secret');
    expect(out).not.toContain('demo-agent-secret');
    expect(out).toMatch(/No new secret for these ids, which the store \(REDIS_URL\) already holds[^\n]*\n {4}admin, demo-agent\n/);
  });

  it('says plainly that no secret was set when the store holds every id', () => {
    const out = demoSecretsBanner('/x/registry.json', secrets, new Set(DEMO_IDS));
    expect(out).not.toContain('Client secrets');
    expect(out).not.toContain('-secret');
    expect(out).toContain('No secret was set: the store (REDIS_URL) already holds every demo id');
  });
});

describe('first starts with REDIS_URL (the built server, a key prefix of its own)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-dev-secrets-'));
  const env = { REDIS_URL: process.env.STS_TEST_REDIS_URL!, REDIS_KEY_PREFIX: `devsecrets${randomBytes(4).toString('hex')}:` };
  const running: BuiltServer[] = [];
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
  }, STEP_TIMEOUT_MS);

  it('an empty store: all four secrets are printed, and they work; the registry file deleted, the next start prints none and the old ones still work', async () => {
    const first = await startBuiltServer(dir, env);
    running.push(first);
    const secrets = printedSecrets(first.stdout());
    expect(Object.keys(secrets).sort()).toEqual([...DEMO_IDS].sort());
    expect(await tokenStatus(first, 'demo-agent', secrets['demo-agent']!)).toBe(200);
    await first.stop();

    rmSync(path.join(dir, 'config/registry.json'));
    const second = await startBuiltServer(dir, env);
    running.push(second);
    expect(second.stdout()).toContain('Demo registry written to');
    expect(second.stdout()).toContain('No secret was set: the store (REDIS_URL) already holds every demo id');
    expect(printedSecrets(second.stdout())).toEqual({});
    expect(second.stdout()).toMatch(/^ {4}demo-agent, demo-subagent, admin, https:\/\/api\.example\.com$/m);
    expect(await tokenStatus(second, 'demo-agent', secrets['demo-agent']!)).toBe(200);
  }, STEP_TIMEOUT_MS * 2);
});
