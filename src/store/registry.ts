/**
 * The live registry's storage: documents (JSON text the clients/ layer parses and validates) by
 * kind and id. Every write bumps one version counter and announces the change, so every instance
 * can refresh its in-process copy; a missed announcement is caught by polling the version.
 * A store failure rejects with StoreUnavailableError; a miss resolves to undefined.
 */
export type RegistryKind = 'agent' | 'resourceServer';

export interface RegistryChange {
  kind: RegistryKind;
  id: string;
}

/** A change as announced: with the registry version it produced, so a listener that heard every change before it need not re-read the rest. */
export interface AnnouncedChange extends RegistryChange {
  version: number;
}

/** Conditions and marks a write carries, applied in the same atomic step as the write. */
export interface WriteOptions {
  /**
   * Write only while the registry's version is still this one: a rule checked over documents
   * read at that version (`all`) still holds when the write lands (check-then-act made atomic).
   */
  version?: number;
  /** Marks the entry as having a change still to complete (true) or clears the mark (false); see `pending`. */
  pending?: boolean;
}

export interface RegistryStore {
  get(kind: RegistryKind, id: string): Promise<string | undefined>;
  /** Every document of a kind, by id, and the version they were read at (one atomic read). */
  all(kind: RegistryKind): Promise<{ docs: Map<string, string>; version: number }>;
  /** Stores the document only when the id is absent; false when it exists. */
  add(kind: RegistryKind, id: string, doc: string, opts?: WriteOptions): Promise<boolean>;
  /** Stores the document, replacing any. */
  put(kind: RegistryKind, id: string, doc: string): Promise<void>;
  /** Stores the document only when the stored one is still `expected` (compare-and-set); false otherwise. */
  replace(kind: RegistryKind, id: string, expected: string, doc: string, opts?: WriteOptions): Promise<boolean>;
  remove(kind: RegistryKind, id: string): Promise<boolean>;
  version(): Promise<number>;
  /** Entries marked as having a change still to complete (WriteOptions.pending), for whoever completes them. */
  pending(): Promise<RegistryChange[]>;
  /** Calls `onChange` for every change announced from now on (by any instance), in order; resolves once listening. */
  subscribe(onChange: (change: AnnouncedChange) => void): Promise<() => Promise<void>>;
  /** Records that a credential was used at `atMs` (coarse: callers throttle). */
  touch(kind: RegistryKind, id: string, credentialId: string, atMs: number): Promise<void>;
  /** When each of the client's credentials was last used, by credential id. */
  lastUsed(kind: RegistryKind, id: string): Promise<Record<string, number>>;
}

/** The announcement text of a change: `<kind>:<id>` (an id may itself contain ':'). */
export const changeMessage = (c: RegistryChange) => `${c.kind}:${c.id}`;

export function parseChange(message: string): RegistryChange | undefined {
  const colon = message.indexOf(':');
  const kind = message.slice(0, colon);
  if (kind !== 'agent' && kind !== 'resourceServer') return undefined;
  return { kind, id: message.slice(colon + 1) };
}

/** What the Redis store publishes (scripts.ts REGISTRY_WRITE): `<version> <kind>:<id>`, the version the change produced first. */
export function parseAnnouncement(message: string): AnnouncedChange | undefined {
  const space = message.indexOf(' ');
  const version = Number(message.slice(0, space));
  const change = Number.isSafeInteger(version) && version > 0 ? parseChange(message.slice(space + 1)) : undefined;
  return change && { ...change, version };
}

/** The lastUsed field of a credential: NUL cannot appear in an id. */
export const lastUsedField = (kind: RegistryKind, id: string, credentialId: string) => `${kind}\0${id}\0${credentialId}`;
