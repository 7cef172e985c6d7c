import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { importCycles } from '../../packages/gate/test/helpers/imports.js';

/**
 * Layers import downward only (docs/architecture.md): a file may import from its own layer or a
 * lower one, never a higher one, `import type` included. Layer 0 is the gate's package
 * (packages/gate, `agent-sts-gate`), which the server imports by name, through its public entries only.
 */
const LAYERS: [string, number][] = [
  ['errors.ts', 1], ['config', 1], ['probe', 1], ['store', 2], ['keys', 3], ['audit', 3],
  ['clients', 4], ['limits', 4], ['sessions', 5], ['oauth', 6], ['registry', 6], ['admin', 7], ['push', 7], ['scim', 7], ['http', 8],
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
    const [, layer] = layerOf(file);
    const upward: string[] = [];
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), spec!.replace(/\.js$/, '.ts'));
      const [targetName, targetLayer] = layerOf(target);
      if (targetLayer > layer) upward.push(`${spec} (${targetName}, layer ${targetLayer})`);
    }
    expect(upward).toEqual([]);
  });
});

describe('the server imports the gate\'s package by name, through its public entries only', () => {
  const GATE = path.resolve('packages/gate');
  const entries = Object.keys((JSON.parse(readFileSync(path.join(GATE, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports)
    .map((e) => `agent-sts-gate${e.slice(1)}`);
  const SPECIFIER = /^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/gm;
  const everywhere = [SRC, path.resolve('test'), path.resolve('bench'), path.resolve('examples')]
    .flatMap((dir) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|mjs)$/.test(f)).map((f) => path.join(dir, f)));

  it('no deep path into the package, by name or relative (its tests\' helpers aside), and no import of the old src/protocol or src/rs', () => {
    expect(entries).toEqual(expect.arrayContaining(['agent-sts-gate/express', 'agent-sts-gate/mcp', 'agent-sts-gate/dpop', 'agent-sts-gate/protocol']));
    const bad: string[] = [];
    for (const file of everywhere) {
      for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
        const spec = (m[1] ?? m[2])!;
        const target = spec.startsWith('.') ? path.resolve(path.dirname(file), spec) : '';
        const deep = spec.startsWith('agent-sts-gate') && !entries.includes(spec);
        const intoPackage = target.startsWith(GATE + path.sep) && !target.startsWith(path.join(GATE, 'test', 'helpers') + path.sep);
        if (deep || intoPackage || /(^|\/)(src|dist)\/(protocol|rs)\//.test(spec)) bad.push(`${path.relative(path.resolve('.'), file)}: ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('finds the imports it checks', () => {
    expect(everywhere.filter((f) => readFileSync(f, 'utf8').includes("from 'agent-sts-gate/protocol'")).length).toBeGreaterThan(30);
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
      // The probe talks HTTP too (it imports only itself: below), so the CLI may run it.
      if (target !== 'cli' && target !== 'probe' && !onlyTypes) values.push(`${spec}`);
    }
    expect(values).toEqual([]);
  });
});

describe('the enforcement probe talks OAuth and HTTP: of the server it imports nothing', () => {
  const probe = sources(path.join(SRC, 'probe'));

  it.each(probe.map((f) => [path.relative(SRC, f), f]))('%s', (_name, file) => {
    const outside = [...readFileSync(file, 'utf8').matchAll(IMPORT)]
      .map(([, spec]) => spec!)
      .filter((spec) => layerOf(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')))[0] !== 'probe');
    expect(outside).toEqual([]);
  });
});
