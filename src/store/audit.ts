import { createHash, hash } from 'node:crypto';

/**
 * The audit trail's storage contract and its hash chain, defined once for every store.
 *
 * A record is an event's canonical JSON (`body`), numbered (`seq`, from 1) and chained: `prev` is
 * the previous record's `hash` (GENESIS_HASH before the first), and
 *   hash = SHA-1( uint64be(seq) ‖ prev ‖ SHA-256(body) )   (112 bytes: the hashes as their lowercase hex)
 * and every hash is written as lowercase hex. The hashes enter the link as the hex text the
 * records carry: fixed lengths keep the encoding unambiguous, and Lua need not turn hex into bytes
 * (that conversion was most of the append's cost in Redis).
 * The body digest is SHA-256, computed by the caller (node:crypto). The link is computed where the
 * record is appended, in the same atomic step that assigns `seq` and reads `prev`: in Redis that is
 * a Lua script, whose only hash is the built-in `redis.sha1hex` (no SHA-256, and we do not write
 * our own). SHA-1 is enough for the link: forging a record means a second preimage of the link (no
 * attack is known; SHA-1's known attacks are collisions, which need both inputs chosen, and a
 * link's input is fixed by the SHA-256 of a server-written body). Checkpoints are signed by the
 * current signing key (ES256, EdDSA or RS256).
 */

/** The link is SHA-1: 20 bytes, 40 hex digits. */
export const LINK_HEX_LENGTH = 40;
export const GENESIS_HASH = '0'.repeat(LINK_HEX_LENGTH);

export const sha256Hex = (s: string): string => hash('sha256', s, 'hex');

/**
 * The canonical form: JSON with object keys sorted (recursively), no whitespace, undefined members
 * dropped, as JSON.stringify writes strings and numbers. Events hold only strings, finite numbers,
 * booleans, arrays and plain objects.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  // An event built with its members already in order (token.issued is) needs no rewriting.
  if (inCanonicalOrder(value)) return JSON.stringify(value);
  // Plain loops and string appends: this runs for every token issued (entries/filter/map/join cost twice as much).
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += `${i > 0 ? ',' : ''}${value[i] === undefined ? 'null' : canonicalJson(value[i])}`;
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '';
  for (const key of Object.keys(record).sort()) {
    const v = record[key];
    if (v !== undefined) out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `{${out}}`;
}

/** Members in sorted order at every depth and none undefined: JSON.stringify then writes the canonical form. */
function inCanonicalOrder(value: unknown): boolean {
  if (value === undefined) return false;
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) return value.every(inCanonicalOrder);
  let previous = '';
  for (const key of Object.keys(value)) {
    if (key < previous || !inCanonicalOrder((value as Record<string, unknown>)[key])) return false;
    previous = key;
  }
  return true;
}

/** The chain link of record `seq`: what its `hash` must be, given its predecessor's hash and its body digest. */
export function linkHash(seq: number, prev: string, digest: string): string {
  const input = Buffer.alloc(LINK_INPUT_BYTES);
  input.writeBigUInt64BE(BigInt(seq), 0);
  input.write(prev, 8, LINK_HEX_LENGTH, 'latin1');
  input.write(digest, 8 + LINK_HEX_LENGTH, DIGEST_HEX_LENGTH, 'latin1');
  return createHash('sha1').update(input).digest('hex');
}

/** The body digest is SHA-256: 64 hex digits. */
const DIGEST_HEX_LENGTH = 64;
/** uint64 seq, the previous link (SHA-1) and the body digest (SHA-256), both as hex text. */
const LINK_INPUT_BYTES = 8 + LINK_HEX_LENGTH + DIGEST_HEX_LENGTH;

/**
 * Retention is applied with every this many records (seq a multiple of it), not with each: a trim
 * is a third of an append's cost in Redis, and Redis frees a stream's memory only in whole nodes
 * (stream-node-max-entries, 100 by default) anyway. So up to this many records more than the
 * limits say may be kept, and an expired record waits for the next such append.
 */
export const AUDIT_TRIM_EVERY = 100;

/** An event ready to append: its canonical body and that body's SHA-256, plus the retention to apply. */
export interface AuditAppend {
  body: string;
  digest: string;
  /** Keep about this many newest records (0: no length limit); applied every AUDIT_TRIM_EVERY records. */
  maxRecords: number;
  /** Drop records older than this (ms since the epoch; 0: no age limit); applied every AUDIT_TRIM_EVERY records. */
  minTimeMs: number;
  /** Set by a store that appended it in the same step as its own write (the session create). */
  appended?: Appended;
}

export interface AuditHead {
  seq: number;
  hash: string;
}

/** Where an append put the record: its seq, its hash and the hash it links to. */
export interface Appended extends AuditHead {
  prev: string;
}

/** One stored record. `id` is the store's position (a Redis stream id, `<ms>-<n>`); `timeMs` from it. */
export interface AuditRecord {
  id: string;
  seq: number;
  prev: string;
  hash: string;
  body: string;
}

export interface AuditRange {
  /** Exclusive bound: records after (forward) or before (backward) this id. */
  from?: string;
  /** Inclusive time bounds on the record's id (ms). */
  sinceMs?: number;
  untilMs?: number;
  count: number;
}

/**
 * The trail. Appends are atomic (seq, prev and hash decided in one step, nothing interleaves);
 * a store failure rejects with StoreUnavailableError.
 */
export interface AuditLog {
  append(entry: AuditAppend): Promise<Appended>;
  /** The newest record's seq and hash ({0, GENESIS_HASH} before the first). */
  head(): Promise<AuditHead>;
  /** Oldest first. */
  forward(range: AuditRange): Promise<AuditRecord[]>;
  /** Newest first. */
  backward(range: AuditRange): Promise<AuditRecord[]>;
  /** The latest signed checkpoint (a compact JWS), if any. */
  checkpoint(): Promise<string | undefined>;
  saveCheckpoint(jws: string): Promise<void>;
  /** How many records are kept. */
  length(): Promise<number>;
}

/** `<ms>-<n>` ids compare by ms, then n. */
export function compareIds(a: string, b: string): number {
  const [am, an] = a.split('-').map(Number) as [number, number];
  const [bm, bn] = b.split('-').map(Number) as [number, number];
  return am - bm || an - bn;
}

export const idTimeMs = (id: string): number => Number(id.slice(0, id.indexOf('-')));

/** Stream ids look like this; anything else offered as a cursor is refused. */
export const RECORD_ID = /^[0-9]{1,15}-[0-9]{1,15}$/;
