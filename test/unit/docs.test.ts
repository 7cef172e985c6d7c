import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/dist.js';
import { markdownFiles, read } from '../helpers/doc-blocks.js';

/**
 * Every relative link in the README, the root's other pages, docs/ and the gate's README leads to a
 * file that exists, and a `#fragment` to a heading of that page (GitHub's anchors: lower case,
 * punctuation dropped, each space a hyphen, a repeated heading numbered).
 */

/** The page without its code (fenced blocks and inline spans), where a `[x](y)` is not a link. */
const withoutFences = (text: string) => text.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '');
const prose = (text: string) => withoutFences(text).replace(/`[^`\n]*`/g, '');

/** `[text](target)` and `![alt](target)`, the target up to the first space or `)`. */
const LINK = /!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
const EXTERNAL = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, title] of withoutFences(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = title!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function brokenLinks(file: string, text = read(file)): string[] {
  const broken: string[] = [];
  for (const [, target] of prose(text).matchAll(LINK)) {
    if (EXTERNAL.test(target!)) continue;
    const [rel, fragment] = target!.split('#', 2) as [string, string | undefined];
    const resolved = rel === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), decodeURI(rel));
    if (!resolved.startsWith(ROOT) || !existsSync(resolved)) {
      broken.push(`${target}: no such file`);
      continue;
    }
    if (fragment === undefined || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) continue;
    if (!anchors(read(path.relative(ROOT, resolved))).has(fragment)) broken.push(`${target}: no heading '#${fragment}' there`);
  }
  return broken;
}

describe('the docs\' relative links', () => {
  const files = markdownFiles();

  it('reads the README, docs/ and the gate\'s README', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/security.md', 'docs/architecture.md', 'packages/gate/README.md']));
  });

  it('computes GitHub\'s anchors', () => {
    expect([...anchors('# A five-minute walk-through\n## The registry\'s admin API\n## `POST /token`\n## Audit trail: retention, sizing, SIEM\n## Start\n## Start\n```\n# not a heading\n```')])
      .toEqual(['a-five-minute-walk-through', 'the-registrys-admin-api', 'post-token', 'audit-trail-retention-sizing-siem', 'start', 'start-1']);
  });

  it('finds links to check, and notices a broken one', () => {
    expect([...prose(read('README.md')).matchAll(LINK)].length).toBeGreaterThan(10);
    expect(brokenLinks('README.md', '[a](docs/nope.md) [b](docs/security.md#nope) [c](docs/security.md#summary) [d](https://example.com/x.md) `[e](f.md)`'))
      .toEqual(['docs/nope.md: no such file', "docs/security.md#nope: no heading '#nope' there"]);
  });

  it.each(files)('%s: every relative link resolves (file and heading)', (file) => {
    expect(brokenLinks(file)).toEqual([]);
  });
});
