import { assertStorable, KILLED_SESSION_FIELDS, type Session, type TokenClaims } from '../types.js';

/** How a field's value is written: `json` and `optional` (a string) are absent when empty. */
type Kind = 'string' | 'int' | 'list' | 'json' | 'optional';
/** The kind a Session property's type allows, so a row cannot encode a property the wrong way. */
type KindFor<T> = undefined extends T ? (NonNullable<T> extends string ? 'optional' : 'json')
  : T extends number ? 'int' : T extends readonly string[] ? 'list' : 'string';
/**
 * Which reads fetch a field. `live`: every read (the liveness check needs it; not a claim);
 * `claims`: every read (introspection reports it: exactly TokenClaims); `session`: full reads only.
 */
type Reads = 'live' | 'claims' | 'session';

export type Stored = Exclude<keyof Session, 'sid'>;

/**
 * The session HASH, one row per Session property: its Redis field name (short on purpose: the
 * names are stored in every record), its kind, and which reads need it. The encoder, the decoders,
 * every read's field list and the Lua scripts' field positions are derived from this table, so a
 * new property is one row here.
 */
export const SESSION_FIELDS = {
  tokenHash: { field: 'th', kind: 'string', reads: 'live' },
  exp: { field: 'exp', kind: 'int', reads: 'claims' },
  ancestors: { field: 'anc', kind: 'list', reads: 'live' },
  agent: { field: 'ag', kind: 'string', reads: 'claims' },
  sub: { field: 'sub', kind: 'string', reads: 'claims' },
  act: { field: 'act', kind: 'json', reads: 'claims' },
  aud: { field: 'aud', kind: 'string', reads: 'claims' },
  scope: { field: 'sc', kind: 'list', reads: 'claims' },
  iat: { field: 'iat', kind: 'int', reads: 'claims' },
  jti: { field: 'jti', kind: 'string', reads: 'claims' },
  chain: { field: 'ch', kind: 'list', reads: 'claims' },
  cnf: { field: 'cnf', kind: 'json', reads: 'claims' },
  parent: { field: 'p', kind: 'optional', reads: 'session' },
  depth: { field: 'd', kind: 'int', reads: 'session' },
  maxDepth: { field: 'md', kind: 'int', reads: 'session' },
} as const satisfies { readonly [P in Stored]: { field: string; kind: KindFor<Session[P]>; reads: Reads } };

type ClaimProp = { [P in Stored]: (typeof SESSION_FIELDS)[P]['reads'] extends 'claims' ? P : never }[Stored];

/** The Redis field name of each property, for scripts that name one field (`HGET ... exp`). */
export const FIELD = Object.fromEntries(Object.entries(SESSION_FIELDS).map(([p, f]) => [p, f.field])) as {
  readonly [P in Stored]: (typeof SESSION_FIELDS)[P]['field'];
};

/** One HMGET: which properties, their Redis field names in that order, and where each lands in the reply. */
export interface FieldRead {
  readonly props: readonly Stored[];
  readonly fields: readonly string[];
  readonly at: Readonly<Partial<Record<Stored, number>>>;
}

function fieldRead(props: readonly Stored[]): FieldRead {
  return { props, fields: props.map((p) => SESSION_FIELDS[p].field), at: Object.fromEntries(props.map((p, i) => [p, i])) };
}

const ALL = Object.keys(SESSION_FIELDS) as Stored[];
/** Every field: exchange, subtree, list. */
export const SESSION_READ = fieldRead(ALL);
/** The liveness fields and the claims: introspection and revocation. */
export const CLAIMS_READ = fieldRead(ALL.filter((p) => SESSION_FIELDS[p].reads !== 'session'));
type KilledProp = Exclude<(typeof KILLED_SESSION_FIELDS)[number], 'sid'>;
/** What a kill decodes of each session it removes (a RemovedSession; the sid is the script's). */
export const REMOVED_PROPS: readonly (KilledProp | 'act')[] = [...KILLED_SESSION_FIELDS.filter((f): f is KilledProp => f !== 'sid'), 'act'];
/** What a kill reads of each session it removes: the RemovedSession, its parent link (the exp is one of them). */
export const REMOVED_READ = fieldRead([...REMOVED_PROPS, 'parent']);

function encodeValue(kind: Kind, v: unknown): string {
  switch (kind) {
    case 'int':
      return String(v);
    case 'list':
      return (v as string[]).join(' ');
    case 'json':
      return v === undefined ? '' : JSON.stringify(v);
    default:
      return (v as string | undefined) ?? '';
  }
}

function decodeValue(kind: Kind, v: string | null): unknown {
  switch (kind) {
    case 'int':
      return Number(v);
    case 'list':
      return v ? v.split(' ') : [];
    case 'json':
      return v ? JSON.parse(v) : undefined;
    case 'optional':
      return v || undefined;
    default:
      return v ?? '';
  }
}

/** Field/value pairs for HSET. Throws on a value that cannot be stored as its kind says. */
export function encodeSession(s: Session): string[] {
  assertStorable(s);
  const out: string[] = [];
  for (const p of ALL) out.push(SESSION_FIELDS[p].field, encodeValue(SESSION_FIELDS[p].kind, s[p]));
  return out;
}

/** The raw value of `prop` in a reply to `read` (null when the record or field is missing). */
export const rawValue = (read: FieldRead, row: (string | null)[], prop: Stored): string | null => row[read.at[prop]!] ?? null;

/** Which positions of a reply to `read` to decode, and as what: worked out once per read, not per row. */
type Plan = readonly (readonly [index: number, prop: Stored, kind: Kind])[];

function planOf(read: FieldRead, keep: (p: Stored) => boolean): Plan {
  return read.props.flatMap((p, i) => (keep(p) ? [[i, p, SESSION_FIELDS[p].kind] as const] : []));
}

function decodeInto(out: Record<string, unknown>, plan: Plan, row: (string | null)[]): void {
  for (const [i, p, kind] of plan) {
    const v = decodeValue(kind, row[i] ?? null);
    if (v !== undefined) out[p] = v;
  }
}

const isClaim = (p: Stored) => SESSION_FIELDS[p].reads === 'claims';
/** The reads every lookup, list and subtree decodes: their plans are made once. */
const SESSION_PLAN = planOf(SESSION_READ, () => true);
const CLAIMS_PLAN = planOf(CLAIMS_READ, isClaim);

/** Decodes a reply to SESSION_READ (the whole record). */
export function decodeSession(sid: string, row: (string | null)[]): Session {
  const out: Record<string, unknown> = { sid };
  decodeInto(out, SESSION_PLAN, row);
  return out as unknown as Session;
}

/** Decodes the claims (not the liveness fields) of a reply to CLAIMS_READ. */
export function decodeClaims(sid: string, row: (string | null)[]): TokenClaims {
  const out: Record<string, unknown> = { sid };
  decodeInto(out, CLAIMS_PLAN, row);
  return out as unknown as Pick<Session, ClaimProp | 'sid'>;
}

/** How to decode only `props` of a reply to `read`: made once, then handed to decodePick for every row. */
export interface PickPlan<P extends Stored> {
  readonly plan: Plan;
  readonly props: readonly P[];
}

export function pickPlan<P extends Stored>(read: FieldRead, props: readonly P[]): PickPlan<P> {
  return { plan: planOf(read, (p) => (props as readonly Stored[]).includes(p)), props };
}

/** Decodes only the plan's properties of a reply to its read. */
export function decodePick<P extends Stored>(sid: string, row: (string | null)[], pick: PickPlan<P>): Pick<Session, P | 'sid'> {
  const out: Record<string, unknown> = { sid };
  decodeInto(out, pick.plan, row);
  return out as unknown as Pick<Session, P | 'sid'>;
}
