import { execFile } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/dist.js';

/** `npm run demo` (after the build jest's globalSetup made): the story runs to the end and tells it. */
const DEMO_TIMEOUT_MS = 40_000;

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['examples/demo.mjs'], { cwd: ROOT, env: { PATH: process.env.PATH }, timeout: DEMO_TIMEOUT_MS }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

describe('npm run demo', () => {
  it('gets a per-task token, delegates a narrower DPoP-bound one, calls the tool (a copy without the key is refused), is killed, and is refused on the next call by an MCP server in local mode that never introspected; exits 0', async () => {
    const { code, stdout, stderr } = await runDemo();
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.split('\n');
    expect(lines.filter((l) => /^\d\. /.test(l)).map((l) => l[0])).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(stdout).toMatch(/scope="invoices:read invoices:write", session /);
    expect(stdout).toMatch(/scope="invoices:read" \(narrower\), sub=planner-agent, act=\{"sub":"research-sub-agent"\}/);
    expect(stdout).toMatch(/token_type=dpop, bound to key [A-Za-z0-9_-]{43}:/);
    expect(stdout).toMatch(/allowed: 2 invoices, called by research-sub-agent on behalf of planner-agent/);
    expect(stdout).toMatch(/a copy of the token without the key \(sent as Bearer\): refused, HTTP 401/);
    expect(stdout).toMatch(/revoked 2 session\(s\)/);
    expect(stdout).toMatch(/the MCP server subscribed to its kill events .*\/ssf\/poll/);
    expect(stdout).toMatch(/the MCP server heard it \(a signed CAEP session-revoked event\) \d+ ms after/);
    expect(stdout).toMatch(/refused by the MCP server: HTTP 401, .*"error":"invalid_token","error_description":"the token's session was killed"/);
    expect(stdout).toMatch(/calls the MCP server introspected: 0 /);
    expect(stdout).not.toMatch(/ALLOWED/);
    expect(lines.at(-2)).toBe('Done: the kill reached the MCP server on the very next call.');
  }, DEMO_TIMEOUT_MS + 5_000);
});
