import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AGENT_ATTRIBUTES, type AttributeSpec } from '../clients/attributes.js';
import type { AgentRecord } from '../clients/records.js';
import { invalidRequest, parseInput } from '../errors.js';
import { AGENT_SCHEMA, EXTENSION_SCHEMA } from './schema.js';

/**
 * An agent record as a SCIM Agent resource, and a resource back as the registry's fields. Where
 * each attribute goes is the registry table's `scim`; the few whose SCIM shape differs from the
 * registry's value have a codec here. The registry validates every value (one copy of its rules).
 */

type Name = keyof typeof AGENT_ATTRIBUTES;
export type ScimResource = Record<string, unknown>;

interface Codec {
  toScim(value: never): unknown;
  fromScim(value: unknown, scimName: string): unknown;
}

const owners = z.array(z.looseObject({ value: z.string() }));
const entitlements = z.array(z.strictObject({ target: z.string(), scopes: z.array(z.string()) }));
const values = z.array(z.looseObject({ value: z.string() }));

function shaped<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidRequest(`${[name, ...issue.path.map(String)].join('.')}: ${issue.message}`).scim('invalidValue');
  }
  return parsed.data;
}

const CODECS: Partial<Record<Name, Codec>> = {
  owner: {
    toScim: (owner: string) => [{ value: owner }],
    fromScim(value, name) {
      const list = shaped(owners, value, name);
      if (list.length > 1) throw invalidRequest(`${name}: this service keeps one accountable owner per agent`).scim('invalidValue');
      return list[0]?.value;
    },
  },
  audiences: {
    toScim: (audiences: Record<string, string[]>) => Object.entries(audiences).map(([target, scopes]) => ({ target, scopes })),
    fromScim(value, name) {
      const out: Record<string, string[]> = {};
      for (const { target, scopes } of shaped(entitlements, value, name)) {
        if (Object.hasOwn(out, target)) throw invalidRequest(`${name}: target "${target}" is named twice`).scim('invalidValue');
        out[target] = scopes;
      }
      return out;
    },
  },
  delegates: {
    toScim: (delegates: string[]) => delegates.map((value) => ({ value })),
    fromScim: (value, name) => shaped(values, value, name).map((d) => d.value),
  },
};

/** Entra sends booleans as "True"/"False". */
const BOOLEAN_TEXT: Record<string, boolean> = { true: true, false: false };
const booleanOf = (v: unknown): unknown => (typeof v === 'string' && Object.hasOwn(BOOLEAN_TEXT, v.toLowerCase()) ? BOOLEAN_TEXT[v.toLowerCase()] : v);
const BOOLEAN_ATTRIBUTES = new Set<Name>(['requireDpop']);

const SCIM_ATTRIBUTES = Object.entries(AGENT_ATTRIBUTES).flatMap(([n, a]) => ((a as AttributeSpec).scim ? [[n as Name, (a as AttributeSpec).scim!] as const] : []));

/** A record's version: a digest of what it holds (its `updated` alone can repeat within a millisecond). */
export function versionOf(record: AgentRecord): string {
  const held = { ...record };
  delete held.pending;
  return `W/"${createHash('sha256').update(JSON.stringify(held)).digest('base64url').slice(0, 22)}"`;
}

export function resourceOf(record: AgentRecord, location: string): ScimResource {
  const core: ScimResource = {};
  const extension: ScimResource = {};
  for (const [name, where] of SCIM_ATTRIBUTES) {
    const value = record[name];
    if (value === undefined) continue;
    (where.in === 'core' ? core : extension)[where.name] = CODECS[name] ? CODECS[name].toScim(value as never) : value;
  }
  return {
    schemas: [AGENT_SCHEMA, EXTENSION_SCHEMA], id: record.id, ...core, active: !record.disabled, [EXTENSION_SCHEMA]: extension,
    meta: { resourceType: 'Agent', created: record.created, lastModified: record.updated, location, version: versionOf(record) },
  };
}

/** What a create or a replacement says: the registry's fields (absent: cleared or defaulted), active, and keys at creation. */
export interface Provisioned {
  fields: Partial<Record<Name, unknown>>;
  active: boolean;
  jwks?: unknown;
}

const READ_ONLY = new Set(['schemas', 'id', 'meta']);
const activeOf = z.boolean();

/** Looks a key up case-insensitively (RFC 7643 §2.1: attribute names are case-insensitive). */
function keyed(obj: Record<string, unknown>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    if (out.has(k.toLowerCase())) throw invalidRequest(`attribute '${k}' is given twice`).scim('invalidSyntax');
    out.set(k.toLowerCase(), v);
  }
  return out;
}

/** A full resource (POST, PUT, or the result of a PATCH) as the registry's fields; unknown attributes are refused by name. */
export function provisionedOf(body: unknown): Provisioned {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('the body must be a JSON object').scim('invalidSyntax');
  const top = keyed(body as Record<string, unknown>);
  const extRaw = top.get(EXTENSION_SCHEMA.toLowerCase()) ?? {};
  const ext = keyed(parseInput(z.record(z.string(), z.unknown()), extRaw));
  const known = new Set([...READ_ONLY, 'active', EXTENSION_SCHEMA.toLowerCase(), ...SCIM_ATTRIBUTES.filter(([, w]) => w.in === 'core').map(([, w]) => w.name.toLowerCase())]);
  const knownExt = new Set(['jwks', ...SCIM_ATTRIBUTES.filter(([, w]) => w.in === 'extension').map(([, w]) => w.name.toLowerCase())]);
  const unknown = [...top.keys()].find((k) => !known.has(k)) ?? [...ext.keys()].find((k) => !knownExt.has(k));
  if (unknown !== undefined) throw invalidRequest(`unknown attribute '${unknown}'`).scim('invalidSyntax');
  const fields: Provisioned['fields'] = {};
  for (const [name, where] of SCIM_ATTRIBUTES) {
    let value = (where.in === 'core' ? top : ext).get(where.name.toLowerCase());
    if (value === undefined || value === null) continue;
    if (BOOLEAN_ATTRIBUTES.has(name)) value = booleanOf(value);
    fields[name] = CODECS[name] ? CODECS[name].fromScim(value, where.name) : value;
  }
  const active = top.has('active') ? shaped(activeOf, booleanOf(top.get('active')), 'active') : true;
  return { fields, active, ...(ext.get('jwks') !== undefined ? { jwks: ext.get('jwks') } : {}) };
}
