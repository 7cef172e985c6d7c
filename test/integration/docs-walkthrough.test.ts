import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startBuiltServer, type BuiltServer } from '../helpers/dist.js';
import { markdownFiles, walkthroughBlocks, type DocBlock } from '../helpers/doc-blocks.js';

/**
 * The commands the README and the guides show for `npm start` run as written: the built server is
 * started in an empty directory with nothing configured (what `npm start` does on a first run), and
 * every block marked `<!-- walkthrough -->` runs in one bash, README first, then docs/ in name order,
 * the setup block's placeholder secrets replaced by the ones the server printed. For each block,
 * what the test expects must appear both in the output the page shows and in the real output.
 */

const STEP_TIMEOUT_MS = 90_000;
const SCRIPT_TIMEOUT_MS = 45_000;
const SEPARATOR = '@@ next block @@';

/** What each marked block must print, in page order; a page gaining or losing a block must update this. */
const EXPECTED: Record<string, string[][]> = {
  'README.md': [
    [], // setup
    ['"token_type":"Bearer"', '"scope":"invoices:read invoices:write"', "sub: 'demo-agent'", "aud: 'https://api.example.com'"],
    ['"expires_in":120', '"scope":"invoices:read"', '"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"'],
    ['{"error":"invalid_scope","error_description":"scope not within the subject token\'s scope: invoices:write"}'],
    ['{"active":true,', '"client_id":"demo-subagent"', '"act":{"sub":"demo-subagent"}'],
    ['"scope":"sessions:read sessions:kill"', '"agent":"demo-agent"', '"agent":"demo-subagent"', '"children":[]'],
    ['{"revoked":2}\n{"active":false}\n{"active":false}'],
  ],
  'docs/admins.md': [
    ['"type":"token.issued"', '"type":"token.used_after_revocation"', '"type":"session.revoked"', '"type":"revocation.requested"', '"next":null'],
    ['{"checkpoint":"eyJ', '{"ok":true,', '"brokenAt":null', '"status":"matched"'],
    ['{"agent":"demo-agent",', '"entitlements":{"https://api.example.com":["invoices:read","invoices:write"]}'],
  ],
  'docs/agents.md': [
    ['"token_type":"Bearer"', '"scope":"invoices:read"'],
    ['200\n{"active":false}'],
  ],
};

/** The `    <client id>   <secret>` lines under "Client secrets" in the first start's output. */
function printedSecrets(stdout: string): Record<string, string> {
  const block = stdout.split('Client secrets')[1] ?? '';
  return Object.fromEntries([...block.matchAll(/^ {4}(\S+) +([A-Za-z0-9_-]{43})$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** The setup block with its placeholders (`NAME=…`) given this run's values; every other line as shown. */
function setupScript(block: DocBlock, values: Record<string, string>): string {
  const seen = new Set<string>();
  const script = block.script.split('\n').map((line) => {
    const m = /^([A-Z_]+)=/.exec(line);
    if (!m || !(m[1]! in values)) return line;
    seen.add(m[1]!);
    return `${m[1]}='${values[m[1]!]}'`;
  }).join('\n');
  expect([...seen].sort()).toEqual(Object.keys(values).sort());
  return script;
}

function bash(script: string, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script], { cwd, env: { PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` }, timeout: SCRIPT_TIMEOUT_MS },
      (err, stdout) => (err && err.killed ? reject(new Error(`the walk-through did not finish:\n${stdout}`)) : resolve(stdout)));
  });
}

describe('the walk-through commands of the README and the guides, against a first `npm start`', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-walkthrough-'));
  const pages = ['README.md', ...markdownFiles().filter((f) => f.startsWith('docs/'))];
  const blocks = pages.flatMap(walkthroughBlocks);
  let server: BuiltServer;
  const outputs: string[] = [];

  beforeAll(async () => {
    server = await startBuiltServer(dir);
    const secrets = printedSecrets(server.stdout());
    const values = {
      STS: server.url, AGENT_SECRET: secrets['demo-agent']!, SUB_SECRET: secrets['demo-subagent']!,
      ADMIN_SECRET: secrets.admin!, RS_SECRET: secrets['https://api.example.com']!,
    };
    const script = blocks.map((b) => (b.setup ? setupScript(b, values) : b.script)).join(`\nprintf '\\n%s\\n' '${SEPARATOR}'\n`);
    outputs.push(...(await bash(`exec 2>&1\n${script}`, dir)).split(`\n${SEPARATOR}\n`));
  }, STEP_TIMEOUT_MS);
  afterAll(() => server?.stop(), STEP_TIMEOUT_MS);

  it('finds the marked blocks the test expects, page by page, the README\'s setup first', () => {
    const counts = Object.fromEntries(pages.map((p) => [p, blocks.filter((b) => b.file === p).length]).filter(([, n]) => n));
    expect(counts).toEqual(Object.fromEntries(Object.entries(EXPECTED).map(([p, e]) => [p, e.length])));
    expect(blocks[0]).toMatchObject({ file: 'README.md', setup: true });
    expect(blocks.filter((b) => b.setup)).toHaveLength(1);
    expect(outputs).toHaveLength(blocks.length);
  });

  it.each(Object.entries(EXPECTED).flatMap(([page, perBlock]) => perBlock.map((fragments, i) => [page, i + 1, fragments] as const)))(
    '%s, block %i: prints what the page shows', (page, n, fragments) => {
      const index = blocks.findIndex((b) => b.file === page) + n - 1;
      const block = blocks[index]!;
      for (const fragment of fragments) {
        expect({ fragment, shownOnThePage: block.shown.includes(fragment) }).toEqual({ fragment, shownOnThePage: true });
        expect({ fragment, printed: outputs[index]!.includes(fragment), output: outputs[index] }).toMatchObject({ fragment, printed: true });
      }
    },
  );
});
