import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../helpers/dist.js';
import { IMPORT, importCycles, tsFiles } from '../helpers/imports.js';

/**
 * src/rs/ stands on protocol/ and jose alone (and node built-ins): express only as types (the app
 * brings it), the MCP SDK only in mcp.ts (an optional peer, for the error classes its middleware maps).
 * src/protocol/ (the client kit in protocol/client/ included) stands on jose and node built-ins alone.
 */
const DIR = path.join(ROOT, 'src/rs');

describe('src/rs imports', () => {
  it('only ./, ../protocol/, jose and node:; express as types only; the MCP SDK in mcp.ts only', () => {
    const bad: string[] = [];
    for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(path.join(DIR, file), 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const [, , typeOnly, spec] = m as unknown as [string, string, string | undefined, string];
        const ok = spec.startsWith('./') || spec.startsWith('../protocol/') || spec === 'jose' || spec.startsWith('node:')
          || (spec === 'express' && typeOnly !== undefined)
          || (spec.startsWith('@modelcontextprotocol/sdk/') && file === 'mcp.ts');
        if (!ok) bad.push(`${file}: ${spec}${typeOnly ? ' (type)' : ''}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

const files = tsFiles;

describe('src/protocol imports', () => {
  const PROTOCOL = path.join(ROOT, 'src/protocol');

  it('only jose, node: and protocol/ itself (the client kit too): nothing of the server, not even src/rs', () => {
    const bad: string[] = [];
    for (const file of files(PROTOCOL)) {
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const spec = m[3]!;
        const inside = spec.startsWith('.') && !path.relative(PROTOCOL, path.resolve(path.dirname(file), spec)).startsWith('..');
        if (!inside && spec !== 'jose' && !spec.startsWith('node:')) bad.push(`${path.relative(PROTOCOL, file)}: ${spec}`);
      }
    }
    expect(files(PROTOCOL).some((f) => f.includes(`${path.sep}client${path.sep}`))).toBe(true);
    expect(bad).toEqual([]);
  });
});

it('src/rs and src/protocol import in no cycle (`import type` counts: rs/introspect.ts and rs/revocations.ts once did)', () => {
  expect(importCycles([...files(DIR), ...files(path.join(ROOT, 'src/protocol'))], ROOT)).toEqual([]);
});
