import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Every `import` / `export … from` of a TypeScript file: [whole match, 'type ' when type-only, specifier]. */
export const IMPORT = /^(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm;

/** Every .ts file below `dir`. */
export const tsFiles = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
  .flatMap((e) => (e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));

/**
 * Import cycles among `files` (relative imports only, `import type` included: a cycle of types is
 * still two modules that cannot be understood apart), each as `a -> b -> a` relative to `root`.
 */
export function importCycles(files: string[], root: string): string[] {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const local = [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[3]!).filter((spec) => spec.startsWith('.'));
    graph.set(file, local.map((spec) => path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))));
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') return void cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(root, f)).join(' -> '));
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return cycles;
}
