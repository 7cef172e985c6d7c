import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SECRET_HASH_PATTERN, verifySecret } from '../../src/clients/secret.js';
import { readKeys } from '../../src/keys/keystore.js';
import { DIST, runNode } from '../helpers/dist.js';

/** The built `agent-sts` command, run as users run it: exit codes and output. */

const BIN = path.join(DIST, 'bin/agent-sts.js');
const SECRET = 'a-machine-made-secret-0123456789abcdef';
const agentSts = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}) => runNode([BIN, ...args], opts);
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'agent-sts-cli-'));

describe('agent-sts command', () => {
  it('new-secret prints one fresh 32-byte base64url secret and exits 0', async () => {
    const [a, b] = await Promise.all([agentSts(['new-secret']), agentSts(['new-secret'])]);
    for (const r of [a, b]) expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 0, stderr: '', stdout: expect.stringMatching(/^[A-Za-z0-9_-]{43}\n$/) });
    expect(a.stdout).not.toBe(b.stdout);
  });

  it.each([
    ['from standard input (-)', ['-'], `${SECRET}\n`, ''],
    ['from standard input (no argument), without a final newline', [], SECRET, ''],
    ['as an argument, with a warning', [SECRET], '', "warning: a secret on the command line shows in ps and stays in shell history; next time pipe it in: 'agent-sts hash-secret -'\n"],
  ])('hash-secret %s prints a stored hash that verifies the secret, and exits 0', async (_how, args, input, stderr) => {
    const r = await agentSts(['hash-secret', ...args], { input });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr });
    const stored = r.stdout.trimEnd();
    expect(r.stdout).toBe(`${stored}\n`);
    expect(stored).toMatch(SECRET_HASH_PATTERN);
    expect(verifySecret(SECRET, stored)).toBe(true);
  });

  it.each([
    ['empty standard input', ['-'], /^error: standard input holds no secret\n$/],
    ['a short secret', ['short'], /\nerror: secret must be at least 32 characters/],
    ['two arguments', [SECRET, SECRET], /^error: too many arguments for 'hash-secret'/],
  ])('hash-secret with %s exits 1 (usage) with a message and prints nothing on stdout', async (_what, args, message) => {
    const r = await agentSts(['hash-secret', ...args], { input: '' });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(message);
  });

  it.each([
    ['ES256', []], ['EdDSA', ['EdDSA']], ['EdDSA', ['--alg', 'EdDSA']], ['RS256', ['--alg', 'RS256']], ['ES256', ['--alg', 'ES256', 'ES256']],
  ] as const)('keys rotate adds one %s key to STS_KEYS_DIR (relative to the working dir), mode 0600: %j', async (alg, args) => {
    const cwd = tempDir();
    const r = await agentSts(['keys', 'rotate', ...args], { cwd, env: { STS_KEYS_DIR: 'my-keys' } });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const dir = path.join(cwd, 'my-keys');
    const [key, ...more] = await readKeys(dir);
    expect(more).toEqual([]);
    expect(key!.alg).toBe(alg);
    expect(r.stdout).toBe(`added ${alg} key ${key!.kid} to ${dir}; send SIGHUP to running instances (or restart) to sign with it\n`);
    expect(statSync(path.join(dir, `${key!.kid}.jwk.json`)).mode & 0o777).toBe(0o600);
    if (alg === 'RS256') expect(createPublicKey({ key: key as JsonWebKey, format: 'jwk' }).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it.each([
    [['HS256'], "error: unknown algorithm 'HS256': ES256, EdDSA, RS256\n"],
    [['--alg', 'RS512'], "error: unknown algorithm 'RS512': ES256, EdDSA, RS256\n"],
    [['--alg', 'RS256', 'EdDSA'], "error: two algorithms given ('RS256' and 'EdDSA'): use --alg once\n"],
  ])('keys rotate %j exits 1 and writes no key', async (args, stderr) => {
    const cwd = tempDir();
    const r = await agentSts(['keys', 'rotate', ...args], { cwd });
    expect(r).toEqual({ code: 1, stdout: '', stderr });
    expect(readdirSync(cwd)).toEqual([]);
  });

  it.each([
    [[], /^Usage: agent-sts \[options\] \[command\]/],
    [['frobnicate'], /^error: unknown command 'frobnicate'/],
    [['keys'], /^Usage: agent-sts keys \[options\] \[command\]/],
    [['keys', 'list'], /^error: unknown command 'list'/],
  ])('%j: usage on stderr, exit 1', async (args, message) => {
    const r = await agentSts(args);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(message);
  });

  it('--version and -V print the package version, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(path.join(DIST, '../package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await agentSts([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('help: usage on stdout, exit 0', async () => {
    const r = await agentSts(['help']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/keys/);
    expect(r.stdout).toMatch(/AGENT_STS_URL/);
  });

  it('importing the command modules runs nothing: no output, no key written, exit 0', async () => {
    const cwd = tempDir();
    const commands = ['index', 'hash-secret', 'new-secret', 'rotate-keys', 'admin-client', 'login', 'login-store', 'sessions', 'subjects', 'agents', 'resource-servers', 'access', 'audit'];
    const modules = [...commands.map((c) => `cli/${c}.js`), 'main.js', 'index.js'];
    const script = modules.map((m) => `await import(${JSON.stringify(path.join(DIST, m))});`).join('\n');
    const r = await runNode(['--input-type=module', '-e', script], { cwd });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(cwd)).toEqual([]);
  });
});
