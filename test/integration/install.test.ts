import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ROOT, startNode, type RunningNode } from '../helpers/dist.js';
import { listeningSts } from '../helpers/http.js';
import { sidOf } from '../helpers/responses.js';
import { API, clientCredentials, kill, SECRETS } from '../helpers/sts.js';

/**
 * agent-sts-gate installed the ways the README tells a resource-server author, into a scratch app
 * outside the repository (test/integration/install/app.mjs: express and an MCP SDK server, both the
 * app's own), against a real agent-sts on 127.0.0.1:
 *   1. `npm pack` of packages/gate (the build jest's globalSetup made), `npm install <tarball>`;
 *   2. from a git checkout (a clone of this repository at HEAD: commit to test a change here), the
 *      README's way: `npm ci -w agent-sts-gate` and `npm pack -w agent-sts-gate` there (its prepack
 *      builds dist/), `npm install <that tarball>`;
 *   3. the checkout's packages/gate linked (`npm install <folder>`), where the package finds the
 *      checkout's own copy of the MCP SDK: the SDK's `instanceof` fails unless the app hands over
 *      its error classes.
 * npm talks to the registry only (--prefer-offline: what the cache holds is not asked for again).
 */

/** npm and git may be slow on a loaded machine (and the registry on a cold cache): each step is bounded by this. */
const STEP_TIMEOUT_MS = 240_000;
const HOOK_TIMEOUT_MS = 2 * STEP_TIMEOUT_MS;
/** The scratch app lives for its describe block only; killed past this if a teardown never runs. */
const APP_LIFETIME_MS = 300_000;
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund'];
/** What the server needs and a resource server must not get from the gate (zod aside: the MCP SDK brings its own, see below). */
const SERVER_PACKAGES = ['agent-sts', 'ioredis', 'pino', 'prom-client', 'commander', 'rate-limiter-flexible', 'zod'];
const SDK = '@modelcontextprotocol/sdk';

/** The environment without npm's own variables: an `npm test` run sets npm_config_local_prefix & co, which would point a child npm at this repository. */
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_OPTIONS'));

function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: cleanEnv(), timeout: STEP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}${stderr}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** The app's express and MCP SDK at the versions this repository's lock has (so a warm cache has them). */
const version = (name: string) => (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

let temp: string;
let env: Awaited<ReturnType<typeof listeningSts>>;
let checkout: Promise<{ dir: string; tarball: string }> | undefined;

beforeAll(async () => {
  temp = mkdtempSync(path.join(tmpdir(), 'agent-sts-gate-install-'));
  env = await listeningSts({ store: 'memory' });
});
afterAll(async () => {
  await env?.close();
  if (temp) rmSync(temp, { recursive: true, force: true });
});

/** `npm pack` of the gate in the repository `dir`, into a directory of its own: the tarball's path and what it holds. */
async function pack(dir: string, flags: string[] = []): Promise<{ tarball: string; files: string[] }> {
  const into = mkdtempSync(path.join(temp, 'pack-'));
  const [packed] = JSON.parse(await run('npm', ['pack', '--json', ...flags, '-w', 'agent-sts-gate', '--pack-destination', into], dir)) as { filename: string; files: { path: string }[] }[];
  return { tarball: path.join(into, packed!.filename), files: packed!.files.map((f) => f.path).sort() };
}

/** A clean clone of this repository at HEAD, `npm ci -w agent-sts-gate` and `npm pack -w agent-sts-gate` done there, made once. */
function gitCheckout(): Promise<{ dir: string; tarball: string }> {
  checkout ??= (async () => {
    const dir = path.join(temp, 'checkout');
    const head = (await run('git', ['rev-parse', 'HEAD'], ROOT)).trim();
    await run('git', ['clone', '--quiet', '--no-checkout', ROOT, dir], temp);
    await run('git', ['checkout', '--quiet', head], dir);
    await run('npm', ['ci', '-w', 'agent-sts-gate', ...NPM_FLAGS], dir);
    const { tarball } = await pack(dir);
    return { dir, tarball };
  })();
  return checkout;
}

/** A scratch app in `temp/<name>`: app.mjs, the app's own express and MCP SDK, and the gate from `gate` (a tarball or a folder). */
async function scratchApp(name: string, gate: string): Promise<string> {
  const dir = path.join(temp, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `scratch-${name}`, private: true, type: 'module' }));
  copyFileSync(path.join(ROOT, 'test/integration/install/app.mjs'), path.join(dir, 'app.mjs'));
  await run('npm', ['install', ...NPM_FLAGS, gate, `express@${version('express')}`, `${SDK}@${version(SDK)}`], dir);
  return dir;
}

async function startApp(dir: string): Promise<{ app: RunningNode; url: string }> {
  const app = startNode(['app.mjs'], {
    cwd: dir, lifetimeMs: APP_LIFETIME_MS, env: { STS_ISSUER: env.issuer, RS_AUDIENCE: API, RS_SECRET: SECRETS[API]! },
  });
  await app.waitFor(/"port":\d+/);
  const { port } = JSON.parse(app.stdout().split('\n')[0]!) as { port: number };
  return { app, url: `http://127.0.0.1:${port}` };
}

const ROUTES = ['/invoices', '/mcp', '/mcp-app-errors'] as const;
type Route = (typeof ROUTES)[number];

/** The status each route answers `token` with (an MCP initialize for the MCP routes). */
async function statuses(url: string, token: string): Promise<Record<Route, number>> {
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'install-test', version: '1' } } };
  const send = async (route: Route) => {
    const res = route === '/invoices'
      ? await fetch(`${url}${route}`, { headers: { authorization: `Bearer ${token}` } })
      : await fetch(`${url}${route}`, {
        method: 'POST', body: JSON.stringify(initialize),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      });
    await res.arrayBuffer();
    return [route, res.status] as const;
  };
  return Object.fromEntries(await Promise.all(ROUTES.map(send))) as Record<Route, number>;
}

/** A token with the scope the routes need, one without it, and one killed after it was issued. */
async function tokens() {
  const write = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
  const readOnly = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token;
  const killed = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
  await kill(env.sts, sidOf(killed));
  return { write, readOnly, killed };
}

interface LsNode { dependencies?: Record<string, LsNode> }

/** Every package name in `npm ls --all --json` (peers and deduped ones included, under each parent), the subtrees of `skip` left out. */
const namesIn = (tree: LsNode, skip: string[] = []): string[] => Object.entries(tree.dependencies ?? {})
  .filter(([name]) => !skip.includes(name)).flatMap(([name, node]) => [name, ...namesIn(node, skip)]);

/** Where `name` is on disk below `dir`/node_modules: one entry per copy. */
function copiesOf(dir: string, name: string): string[] {
  const modules = path.join(dir, 'node_modules');
  if (!existsSync(modules)) return [];
  const here = existsSync(path.join(modules, name, 'package.json')) ? [path.join(modules, name)] : [];
  const nested = readdirSync(modules).flatMap((e) => (e.startsWith('@') ? readdirSync(path.join(modules, e)).map((s) => `${e}/${s}`) : [e]));
  return [...here, ...nested.flatMap((e) => copiesOf(path.join(modules, e), name))];
}

describe('npm pack, then npm install <tarball> (the published artifact)', () => {
  let dir: string;
  let files: string[];
  let app: RunningNode;
  let url: string;
  beforeAll(async () => {
    // --ignore-scripts: jest's globalSetup built packages/gate/dist already; rebuilding it here would race the other test files reading it.
    const packed = await pack(ROOT, ['--ignore-scripts']);
    files = packed.files;
    dir = await scratchApp('tarball', packed.tarball);
    ({ app, url } = await startApp(dir));
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await app?.stop();
  });

  it('the tarball holds dist/ (code and types), README, LICENSE and package.json, nothing else (no src, tests, maps or build info)', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/rs/express.js', 'dist/rs/express.d.ts', 'dist/rs/mcp.d.ts', 'dist/protocol/index.d.ts']));
    expect(files.filter((f) => !/^dist\/.+\.(js|d\.ts)$/.test(f) && !['LICENSE', 'README.md', 'package.json'].includes(f))).toEqual([]);
  });

  it('npm ls: the gate brings jose alone and nothing of the server; one express and one MCP SDK on disk, the app\'s', async () => {
    const tree = JSON.parse(await run('npm', ['ls', '--all', '--json'], dir)) as LsNode;
    const gate = tree.dependencies!['agent-sts-gate']!;
    // Its peers are listed under it, resolved to the app's copies (checked on disk below): what it brings is the rest.
    expect(namesIn(gate, ['express', SDK])).toEqual(['jose']);
    expect(SERVER_PACKAGES.filter((n) => namesIn(tree, [SDK]).includes(n))).toEqual([]);
    expect(namesIn(tree.dependencies![SDK]!)).toContain('zod');
    expect([copiesOf(dir, 'express'), copiesOf(dir, SDK)]).toEqual([[path.join(dir, 'node_modules/express')], [path.join(dir, 'node_modules', SDK)]]);
  });

  it('express and the MCP server let a token with the scope through, refuse one without it with 403 and a killed one with 401', async () => {
    const t = await tokens();
    expect(await statuses(url, t.write)).toEqual({ '/invoices': 200, '/mcp': 200, '/mcp-app-errors': 200 });
    expect(await statuses(url, t.readOnly)).toEqual({ '/invoices': 403, '/mcp': 403, '/mcp-app-errors': 403 });
    expect(await statuses(url, t.killed)).toEqual({ '/invoices': 401, '/mcp': 401, '/mcp-app-errors': 401 });
    expect(await statuses(url, 'not-a-token')).toEqual({ '/invoices': 401, '/mcp': 401, '/mcp-app-errors': 401 });
  });
});

describe('from a fresh git checkout: npm ci -w agent-sts-gate and npm pack -w agent-sts-gate there, then npm install <tarball>', () => {
  let app: RunningNode;
  let url: string;
  beforeAll(async () => {
    const dir = await scratchApp('checkout-tarball', (await gitCheckout()).tarball);
    ({ app, url } = await startApp(dir));
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await app?.stop();
  });

  it('the same answers: 200 with the scope, 403 without, 401 once killed', async () => {
    const t = await tokens();
    expect(await statuses(url, t.write)).toEqual({ '/invoices': 200, '/mcp': 200, '/mcp-app-errors': 200 });
    expect(await statuses(url, t.readOnly)).toEqual({ '/invoices': 403, '/mcp': 403, '/mcp-app-errors': 403 });
    expect(await statuses(url, t.killed)).toEqual({ '/invoices': 401, '/mcp': 401, '/mcp-app-errors': 401 });
  });
});

describe('the checkout\'s folder linked (npm install <checkout>/packages/gate): two copies of the MCP SDK', () => {
  let app: RunningNode;
  let url: string;
  beforeAll(async () => {
    const dir = await scratchApp('linked', path.join((await gitCheckout()).dir, 'packages/gate'));
    ({ app, url } = await startApp(dir));
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await app?.stop();
  });

  it('without `errors` the SDK answers every refusal 500 (its instanceof fails on the other copy\'s errors); with the app\'s error classes, 403 and 401', async () => {
    const t = await tokens();
    expect(await statuses(url, t.write)).toEqual({ '/invoices': 200, '/mcp': 200, '/mcp-app-errors': 200 });
    expect(await statuses(url, t.readOnly)).toEqual({ '/invoices': 403, '/mcp': 500, '/mcp-app-errors': 403 });
    expect(await statuses(url, t.killed)).toEqual({ '/invoices': 401, '/mcp': 500, '/mcp-app-errors': 401 });
  });
});
