import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT, runNode } from '../helpers/dist.js';

/**
 * The packages as node imports them (built, outside jest): every `exports` target of the server and
 * of the gate's package is in the build; the gate's entries load nothing of the server (no ioredis,
 * express or pino), while the server's main entry does and still starts nothing. Checked in fresh node
 * processes, through require.cache (those three are CommonJS). Installed into an app of its own:
 * test/integration/install.test.ts.
 */

interface PackageJson {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const GATE = path.join(ROOT, 'packages/gate');
const gate = JSON.parse(readFileSync(path.join(GATE, 'package.json'), 'utf8')) as Pick<PackageJson, 'exports'>;

const SERVER_MODULES = ['ioredis', 'express', 'pino'];

/** Imports `specifier` in a fresh node, then prints which server packages were loaded, and its exports. */
const probe = (specifier: string) => `
  import { createRequire } from 'node:module';
  const m = await import(${JSON.stringify(specifier)});
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  const server = ${JSON.stringify(SERVER_MODULES)}.filter((name) => loaded.some((f) => f.includes('/node_modules/' + name + '/')));
  process.stdout.write(JSON.stringify({ server, exports: Object.keys(m).sort() }));
`;

async function importInChild(specifier: string): Promise<{ server: string[]; exports: string[] }> {
  const ran = await runNode(['--input-type=module', '-e', probe(specifier)]);
  expect({ code: ran.code, stderr: ran.stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(ran.stdout) as { server: string[]; exports: string[] };
}

describe('package entries', () => {
  it('every exports, main, types and bin target exists in the builds; the server exports no resource-server entry', () => {
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
    for (const entry of Object.values(pkg.exports)) targets.push(...(typeof entry === 'string' ? [entry] : Object.values(entry)));
    expect(targets.filter((t) => !existsSync(path.join(ROOT, t)))).toEqual([]);
    expect(Object.keys(pkg.exports)).toEqual(['.', './package.json']);
    const gateTargets = Object.values(gate.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry)));
    expect(gateTargets.filter((t) => !existsSync(path.join(GATE, t)))).toEqual([]);
  });

  it('agent-sts-gate/protocol loads no ioredis, express or pino and exports the shared constants and the client kit', async () => {
    const { server, exports } = await importInChild('agent-sts-gate/protocol');
    expect(server).toEqual([]);
    expect(exports).toEqual(expect.arrayContaining(['TOKEN_TYPES', 'GRANT_TYPES', 'ACCESS_TOKEN_TYP', 'parseScope', 'CLOCK_TOLERANCE_SECONDS', 'clientSecretBasic', 'requestToken', 'dpopSigner', 'parseChallenges', 'wellKnownUrl']));
  });

  it.each([
    ['agent-sts-gate/express', ['requireToken', 'protectedResourceMetadata', 'resourceMetadataUrl', 'revocationFeed', 'dpopVerifier']],
    ['agent-sts-gate/mcp', ['tokenVerifier', 'protectedResourceMetadata', 'resourceMetadataUrl', 'revocationFeed']],
    ['agent-sts-gate/dpop', ['dpopVerifier', 'verifyProof', 'memoryReplayCache', 'redisReplayCache']],
  ])('%s loads no ioredis, express or pino, and exports the resource-server pieces', async (specifier, names) => {
    const { server, exports } = await importInChild(specifier);
    expect(server).toEqual([]);
    expect(exports).toEqual(expect.arrayContaining(names));
  });

  it('the main entry exports the builder and boot, loads the server libraries (the probe sees them), and starts nothing', async () => {
    const { server, exports } = await importInChild('agent-sts');
    expect(server.sort()).toEqual([...SERVER_MODULES].sort());
    expect(exports).toEqual(expect.arrayContaining(['loadConfig', 'buildDeps', 'createApp', 'main', 'TOKEN_TYPES', 'parseScope']));
    // runNode resolved: the child exited by itself, so importing it listened on nothing.
  });
});
