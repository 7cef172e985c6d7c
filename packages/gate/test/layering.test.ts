import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { IMPORT, importCycles, tsFiles } from './helpers/imports.js';

/**
 * What the package may import, so a resource server's app loads nothing of agent-sts's server:
 * src/rs/ stands on protocol/, jose and node built-ins; express only as types (the app brings it);
 * the MCP SDK only in rs/mcp.ts, as types and one `import()` of its error classes (an optional peer).
 * src/protocol/ (the client kit in protocol/client/ included) stands on jose and node built-ins alone.
 */
const PACKAGE = fileURLToPath(new URL('../', import.meta.url));
const SRC = path.join(PACKAGE, 'src');
const RS = path.join(SRC, 'rs');
const PROTOCOL = path.join(SRC, 'protocol');

/** Every `import('…')` with a literal specifier. */
const DYNAMIC_IMPORT = /\bimport\(\s*'([^']+)'\s*\)/g;

const inside = (file: string, spec: string, dir: string) => spec.startsWith('.') && !path.relative(dir, path.resolve(path.dirname(file), spec)).startsWith('..');

describe('src/rs imports', () => {
  it('only itself, ../protocol/, jose and node:; express as types only; the MCP SDK in mcp.ts only', () => {
    const bad: string[] = [];
    for (const file of tsFiles(RS)) {
      const name = path.relative(RS, file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const [, , typeOnly, spec] = m as unknown as [string, string, string | undefined, string];
        const ok = inside(file, spec, SRC) || spec === 'jose' || spec.startsWith('node:')
          || (spec === 'express' && typeOnly !== undefined)
          || (spec.startsWith('@modelcontextprotocol/sdk/') && name === 'mcp.ts' && typeOnly !== undefined);
        if (!ok) bad.push(`${name}: ${spec}${typeOnly ? ' (type)' : ''}`);
      }
      for (const [, spec] of text.matchAll(DYNAMIC_IMPORT)) {
        if (!(spec === '@modelcontextprotocol/sdk/server/auth/errors.js' && name === 'mcp.ts')) bad.push(`${name}: import(${spec})`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('src/protocol imports', () => {
  it('only jose, node: and protocol/ itself (the client kit too): nothing of rs/, nothing of a framework', () => {
    const bad: string[] = [];
    for (const file of tsFiles(PROTOCOL)) {
      const text = readFileSync(file, 'utf8');
      const specs = [...text.matchAll(IMPORT)].map((m) => m[3]!).concat([...text.matchAll(DYNAMIC_IMPORT)].map((m) => m[1]!));
      for (const spec of specs) {
        if (!inside(file, spec, PROTOCOL) && spec !== 'jose' && !spec.startsWith('node:')) bad.push(`${path.relative(PROTOCOL, file)}: ${spec}`);
      }
    }
    expect(tsFiles(PROTOCOL).some((f) => f.includes(`${path.sep}client${path.sep}`))).toBe(true);
    expect(bad).toEqual([]);
  });
});

describe('the package\'s manifest', () => {
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional?: boolean }>;
    exports: Record<string, string | Record<string, string>>; files: string[];
  };

  it('depends on jose alone; express and the MCP SDK are optional peers', () => {
    expect(Object.keys(pkg.dependencies)).toEqual(['jose']);
    expect(pkg.peerDependenciesMeta).toEqual({ '@modelcontextprotocol/sdk': { optional: true }, express: { optional: true } });
  });

  it('every entry has types and a build, and its source for the monorepo (first, under the agent-sts-source condition)', () => {
    for (const [name, entry] of Object.entries(pkg.exports)) {
      if (name === './package.json') continue;
      expect([name, Object.keys(entry)]).toEqual([name, ['agent-sts-source', 'types', 'default']]);
      const { 'agent-sts-source': source, types, default: built } = entry as Record<string, string>;
      expect([types, built]).toEqual([source!.replace('./src/', './dist/').replace(/\.ts$/, '.d.ts'), source!.replace('./src/', './dist/').replace(/\.ts$/, '.js')]);
      expect(tsFiles(SRC).map((f) => `./${path.relative(PACKAGE, f)}`)).toContain(source);
    }
  });
});

it('src/rs and src/protocol import in no cycle (`import type` counts: rs/introspect.ts and rs/revocations.ts once did)', () => {
  expect(importCycles(tsFiles(SRC), PACKAGE)).toEqual([]);
});
