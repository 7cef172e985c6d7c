import { scimPatch, ScimError, type ScimPatchOperation } from 'scim-patch';
import { z } from 'zod';
import { invalidRequest, parseInput, type ScimType } from '../errors.js';
import type { ScimResource } from './resource.js';
import { AGENT_SCHEMA, EXTENSION_SCHEMA, MAX_OPERATIONS, PATCH_OP_SCHEMA } from './schema.js';

/**
 * PATCH (RFC 7644 §3.5.2) applied by scim-patch to the agent's current resource: add, replace and
 * remove, op names in any case ("Replace" from Entra), paths with value filters, paths prefixed by
 * a schema URN, path-less values. The result is a full resource, checked like a PUT's.
 */

const patchBody = z.looseObject({
  schemas: z.array(z.string()).refine((s) => s.includes(PATCH_OP_SCHEMA), `must name ${PATCH_OP_SCHEMA}`),
  Operations: z.array(z.looseObject({ op: z.string(), path: z.string().optional(), value: z.unknown().optional() })).min(1).max(MAX_OPERATIONS),
});

/**
 * scim-patch splits a path at its last ':' to find a schema URN, and so breaks on a value filter
 * naming a URI or an agent id with a colon (`entitlements[target eq "https://…"]`). Inside quoted
 * values a colon travels as this private-use character, in the paths and in the resource, and
 * comes back after the patch; a request carrying the character itself is refused.
 */
const COLON_STAND_IN = '\uE000';

const QUOTED = /"(?:[^"\\]|\\.)*"/g;
const guardPath = (path: string) => path.replace(QUOTED, (q) => q.replaceAll(':', COLON_STAND_IN));

/** Every string value (not the keys: the extension's URN stays a key scim-patch can find). */
function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  return v;
}

/** The core schema's URN is no key of the resource (scim-patch knows only User's and Group's): a path may carry it. */
function withoutCoreUrn(path: string): string {
  const core = `${AGENT_SCHEMA}:`.toLowerCase();
  const ext = `${EXTENSION_SCHEMA}:`.toLowerCase();
  if (path.toLowerCase().startsWith(core)) return path.slice(core.length);
  if (path.toLowerCase().startsWith(ext)) return `${EXTENSION_SCHEMA}:${path.slice(ext.length)}`;
  return path;
}

/** RFC 7644 §3.5.2: op names match case-insensitively (Entra sends "Replace"); scim-patch takes them in lower case. */
function opName(op: string, i: number): string {
  const name = op.toLowerCase();
  if (name !== 'add' && name !== 'remove' && name !== 'replace') throw invalidRequest(`Operations[${i}].op: "add", "remove" or "replace"`).scim('invalidSyntax');
  return name;
}

const SCIM_TYPES = new Set<string>(['invalidPath', 'noTarget', 'invalidValue', 'invalidSyntax', 'mutability']);

export function patched(resource: ScimResource, body: unknown): ScimResource {
  const { Operations } = parseInput(patchBody, body);
  if (JSON.stringify(Operations).includes(COLON_STAND_IN)) throw invalidRequest('Operations: character U+E000 is not accepted').scim('invalidValue');
  const guard = (v: unknown) => mapStrings(v, (x) => x.replaceAll(':', COLON_STAND_IN));
  const ops = Operations.map((o, i) => ({
    ...o, op: opName(o.op, i), ...(o.path !== undefined ? { path: guardPath(withoutCoreUrn(o.path)) } : {}), ...(o.value !== undefined ? { value: guard(o.value) } : {}),
  })) as ScimPatchOperation[];
  const held = { ...resource };
  delete held.meta;
  const guarded = guard(held) as ScimResource;
  try {
    const result = scimPatch(guarded as never, ops, { mutateDocument: false, treatMissingAsAdd: true }) as ScimResource;
    return mapStrings(result, (x) => x.replaceAll(COLON_STAND_IN, ':')) as ScimResource;
  } catch (err) {
    if (!(err instanceof ScimError)) throw err;
    const type = (SCIM_TYPES.has(err.scimCode ?? '') ? err.scimCode : 'invalidPath') as ScimType;
    throw invalidRequest(`Operations: ${err.message}`).scim(type);
  }
}
