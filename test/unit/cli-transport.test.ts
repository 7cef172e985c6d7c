import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { run, type CliIo } from '../../src/cli/index.js';
import { isLoopbackHost } from '../../src/cli/command-kit.js';

/**
 * Issue 20, finding 11: the CLI sends the client secret over plain http only to loopback, or to
 * another host with an explicit --insecure. Run in process with fetch replaced, so the
 * non-loopback case is shown without any connection leaving the test.
 */

const LAB = 'http://sts.lab.example';

function io(env: NodeJS.ProcessEnv): CliIo & { err: () => string } {
  let err = '';
  return {
    stdout: { write: () => true },
    stderr: { write: (t: string) => (err += t) },
    env, cwd: process.cwd(),
    err: () => err,
  };
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('the CLI and plain http', () => {
  it.each([
    ['localhost', true], ['127.0.0.1', true], ['127.255.3.4', true], ['[::1]', true], ['[::ffff:7f00:1]', true],
    ['128.0.0.1', false], ['10.0.0.1', false], ['[::2]', false], ['[::ffff:a00:1]', false], ['sts.example.com', false], ['localhost.example.com', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(new URL(`http://${host}/`).hostname)).toBe(loopback);
  });

  it('to another host nothing is sent without --insecure; with it the token request goes out (with its DPoP proof)', async () => {
    const sent: { url: string; headers: Record<string, string> }[] = [];
    jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      sent.push({ url: String(input), headers: init?.headers as Record<string, string> });
      return new Response(JSON.stringify({ error: 'invalid_client', error_description: 'client authentication failed' }), { status: 401, headers: { 'Content-Type': 'application/json' } });
    });
    const env = { AGENT_STS_URL: LAB, AGENT_STS_CLIENT_ID: 'admin', AGENT_STS_CLIENT_SECRET: 'a-secret-0123456789abcdefghijklmnopq' };

    const refused = io(env);
    expect(await run(['sessions', 'ls'], refused)).toBe(1);
    expect(refused.err()).toMatch(/^error: refusing plain http to sts\.lab\.example: .* or --insecure for a lab\n$/);
    expect(sent).toEqual([]);

    const lab = io(env);
    expect(await run(['sessions', 'ls', '--insecure'], lab)).toBe(2);
    expect(lab.err()).toBe('error: invalid_client (401): client authentication failed\n');
    expect(sent.map((s) => s.url)).toEqual([`${LAB}/token`]);
    const proof = sent[0]!.headers.DPoP!;
    expect(decodeProtectedHeader(proof)).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } });
    expect(decodeProtectedHeader(proof).jwk).not.toHaveProperty('d');
    expect(decodeJwt(proof)).toMatchObject({ htm: 'POST', htu: `${LAB}/token` });
  });
});
