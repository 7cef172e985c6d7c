import { parse, Tester, type Filter } from 'scim2-parse-filter';
import { invalidRequest } from '../errors.js';
import type { ScimResource } from './resource.js';
import { CASE_IGNORED, MAX_FILTER_CHARS } from './schema.js';

/**
 * GET /Agents' filter (RFC 7644 §3.4.2.2), parsed and evaluated by scim2-parse-filter; sortBy and
 * paging over the matching resources. Attribute names match case-insensitively (the library),
 * and string values of caseExact=false attributes (displayName, description) too (here).
 */

const lastName = (path: string) => path.slice(path.lastIndexOf(':') + 1).split('.').at(-1)!.toLowerCase();

class AgentTester extends Tester {
  override test(r: unknown, f: Filter): boolean {
    if ('compValue' in f && typeof f.compValue === 'string' && CASE_IGNORED.has(lastName(f.attrPath))) {
      const v = f.compValue.toLowerCase();
      const op = f.op;
      return this.attrTest(this.attrPath(f.attrPath), r, (s: unknown) => this[op](typeof s === 'string' ? s.toLowerCase() : s, v));
    }
    return super.test(r, f);
  }
}

/** A predicate of the filter, or a 400 invalidFilter. */
export function filterOf(text: string | undefined): (r: ScimResource) => boolean {
  if (text === undefined) return () => true;
  if (text.length > MAX_FILTER_CHARS) throw invalidRequest(`filter: at most ${MAX_FILTER_CHARS} characters`).scim('invalidFilter');
  let ast: Filter;
  try {
    ast = parse(text);
  } catch {
    throw invalidRequest('filter: not a SCIM filter (RFC 7644 §3.4.2.2)').scim('invalidFilter');
  }
  const tester = new AgentTester();
  return (r) => tester.test(r, ast);
}

/** The first value at a path (names case-insensitive; a multi-valued attribute gives its first value). */
function valueAt(r: unknown, path: string[]): unknown {
  let at = r;
  for (const name of path) {
    if (Array.isArray(at)) at = at[0];
    if (at === null || typeof at !== 'object') return undefined;
    const key = Object.keys(at).find((k) => k.toLowerCase() === name.toLowerCase());
    at = key === undefined ? undefined : (at as Record<string, unknown>)[key];
  }
  return Array.isArray(at) ? at[0] : at;
}

/** Sorted by `sortBy` (RFC 7644 §3.4.2.3: resources without a value last whatever the order), else as given. */
export function sortedBy(resources: ScimResource[], sortBy: string | undefined, order: string | undefined): ScimResource[] {
  if (order !== undefined && order !== 'ascending' && order !== 'descending') throw invalidRequest('sortOrder: "ascending" or "descending"').scim('invalidValue');
  if (sortBy === undefined) return resources;
  const path = new Tester().attrPath(sortBy);
  const sign = order === 'descending' ? -1 : 1;
  const keyed = resources.map((r) => {
    const v = valueAt(r, path);
    return { r, v: typeof v === 'string' && CASE_IGNORED.has(lastName(sortBy)) ? v.toLowerCase() : v };
  });
  keyed.sort((a, b) => {
    if (a.v === undefined || a.v === null) return b.v === undefined || b.v === null ? 0 : 1;
    if (b.v === undefined || b.v === null) return -1;
    return (a.v < b.v ? -1 : a.v > b.v ? 1 : 0) * sign;
  });
  return keyed.map((k) => k.r);
}
