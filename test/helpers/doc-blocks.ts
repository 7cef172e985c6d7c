import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './dist.js';

/**
 * The Markdown the docs tests read, and the shell blocks the guides mark as runnable against
 * `npm start`: a fenced ```sh block right after a `<!-- walkthrough -->` line (the README's
 * variables block after `<!-- walkthrough: setup -->`), with the plain fenced block right after it,
 * if any, as the output the page shows.
 */

/** Every Markdown page a reader follows: the README, the root's other pages, docs/ and the gate's README. */
export function markdownFiles(): string[] {
  const docs = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? docs(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : []);
  const root = readdirSync(ROOT).filter((f) => f.endsWith('.md'));
  return [...root, ...docs('docs'), 'packages/gate/README.md'].sort();
}

export const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

export interface DocBlock {
  file: string;
  setup: boolean;
  /** The commands, as the page shows them. */
  script: string;
  /** The output the page shows under them ('' when none). */
  shown: string;
}

const FENCE = /^```(\w*)\s*$/;

/** The marked blocks of one page, in page order. */
export function walkthroughBlocks(file: string): DocBlock[] {
  const lines = read(file).split('\n');
  const blocks: DocBlock[] = [];
  const fenced = (start: number): { lang: string; body: string; end: number } | undefined => {
    const open = FENCE.exec(lines[start] ?? '');
    if (!open) return undefined;
    const close = lines.findIndex((l, i) => i > start && l.startsWith('```'));
    if (close < 0) throw new Error(`${file}:${start + 1}: a fence that never closes`);
    return { lang: open[1]!, body: lines.slice(start + 1, close).join('\n'), end: close };
  };
  lines.forEach((line, i) => {
    const marker = /^<!-- walkthrough(: setup)? -->$/.exec(line.trim());
    if (!marker) return;
    const code = fenced(i + 1);
    if (!code || code.lang !== 'sh') throw new Error(`${file}:${i + 1}: a walkthrough marker must sit right above a \`\`\`sh block`);
    const out = fenced(code.end + 1);
    blocks.push({ file, setup: marker[1] !== undefined, script: code.body, shown: out && out.lang === '' ? out.body : '' });
  });
  return blocks;
}
