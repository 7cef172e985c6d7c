import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { importCycles } from '../helpers/imports.js';

/**
 * Layers import downward only (docs/architecture.md): a file may import from its own layer or a
 * lower one, never a higher one, `import type` included. src/rs/ (the resource-server side) may
 * import only src/protocol/, so a resource server's app never loads the server's dependencies.
 */
const LAYERS: [string, number][] = [
  ['protocol', 0], ['rs', 0.5], ['errors.ts', 1], ['config', 1], ['store', 2], ['keys', 3], ['audit', 3],
  ['clients', 4], ['limits', 4], ['sessions', 5], ['oauth', 6], ['registry', 6], ['admin', 7], ['push', 7], ['http', 8],
  ['app.ts', 9], ['deps.ts', 9], ['main.ts', 9], ['index.ts', 9], ['dev-bootstrap.ts', 9], ['bin', 10], ['cli', 10],
];
const SRC = path.resolve('src');

function layerOf(file: string): [string, number] {
  const top = path.relative(SRC, file).split(path.sep)[0]!;
  const found = LAYERS.find(([name]) => name === top);
  if (!found) throw new Error(`${path.relative(SRC, file)}: no layer in docs/architecture.md (add it to LAYERS there and here)`);
  return found;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm;

describe('layers import downward only', () => {
  const files = sources(SRC);

  it('no two modules import each other, directly or around a cycle (`import type` counts)', () => {
    expect(importCycles(files, SRC)).toEqual([]);
  });

  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(40);
  });

  it.each(files.map((f) => [path.relative(SRC, f), f]))('%s', (_name, file) => {
    const [name, layer] = layerOf(file);
    const upward: string[] = [];
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), spec!.replace(/\.js$/, '.ts'));
      const [targetName, targetLayer] = layerOf(target);
      const rsBreach = name === 'rs' && targetName !== 'protocol' && targetName !== 'rs';
      if (targetLayer > layer || rsBreach) upward.push(`${spec} (${targetName}, layer ${targetLayer})`);
    }
    expect(upward).toEqual([]);
  });
});

describe('the CLI\'s admin commands talk HTTP: of the server they import types only', () => {
  /** The commands that work on the server host's own files (keys dir, secrets) are the exception. */
  const LOCAL_COMMANDS = ['hash-secret.ts', 'new-secret.ts', 'rotate-keys.ts'];
  const VALUE_IMPORT = /^\s*import\s+(?!type\b)([^'"]*?)from\s+'(\.{1,2}\/[^']+)'/gm;
  const cli = sources(path.join(SRC, 'cli')).filter((f) => !LOCAL_COMMANDS.includes(path.basename(f)));

  it.each(cli.map((f) => [path.relative(SRC, f), f]))('%s', (_name, file) => {
    const values: string[] = [];
    for (const [, names, spec] of readFileSync(file, 'utf8').matchAll(VALUE_IMPORT)) {
      const [target] = layerOf(path.resolve(path.dirname(file), spec!.replace(/\.js$/, '.ts')));
      // `import { type A, type B }` imports no value either.
      const onlyTypes = /^\{[^}]*\}\s*$/.test(names!.trim()) && names!.replace(/[{}\s]/g, '').split(',').filter(Boolean).every((n) => n.startsWith('type'));
      if (target !== 'cli' && target !== 'protocol' && !onlyTypes) values.push(`${spec}`);
    }
    expect(values).toEqual([]);
  });
});
