import { EventEmitter } from 'node:events';
import { changeMessage, lastUsedField, parseChange, type AnnouncedChange, type RegistryChange, type RegistryKind, type RegistryStore, type WriteOptions } from '../registry.js';

const CHANGED = 'changed';

/** The embedded twin of the Redis registry store: one process; instances sharing it see each change. */
export class MemoryRegistryStore implements RegistryStore {
  readonly #docs: Record<RegistryKind, Map<string, string>> = { agent: new Map(), resourceServer: new Map() };
  readonly #lastUsed = new Map<string, number>();
  readonly #changes = new EventEmitter();
  /** `<kind>:<id>` of entries with a change still to complete. */
  readonly #pending = new Set<string>();
  #version = 0;

  async get(kind: RegistryKind, id: string): Promise<string | undefined> {
    return this.#docs[kind].get(id);
  }

  async all(kind: RegistryKind): Promise<{ docs: Map<string, string>; version: number }> {
    return { docs: new Map(this.#docs[kind]), version: this.#version };
  }

  async add(kind: RegistryKind, id: string, doc: string, opts: WriteOptions = {}): Promise<boolean> {
    if (this.#docs[kind].has(id) || !this.#atVersion(opts)) return false;
    this.#write(kind, id, doc, opts);
    return true;
  }

  async put(kind: RegistryKind, id: string, doc: string): Promise<void> {
    this.#write(kind, id, doc);
  }

  async replace(kind: RegistryKind, id: string, expected: string, doc: string, opts: WriteOptions = {}): Promise<boolean> {
    if (this.#docs[kind].get(id) !== expected || !this.#atVersion(opts)) return false;
    this.#write(kind, id, doc, opts);
    return true;
  }

  async remove(kind: RegistryKind, id: string): Promise<boolean> {
    if (!this.#docs[kind].delete(id)) return false;
    this.#announce({ kind, id });
    return true;
  }

  async version(): Promise<number> {
    return this.#version;
  }

  async pending(): Promise<RegistryChange[]> {
    return [...this.#pending].flatMap((m) => parseChange(m) ?? []);
  }

  async subscribe(onChange: (change: AnnouncedChange) => void): Promise<() => Promise<void>> {
    this.#changes.on(CHANGED, onChange);
    return async () => {
      this.#changes.off(CHANGED, onChange);
    };
  }

  async touch(kind: RegistryKind, id: string, credentialId: string, atMs: number): Promise<void> {
    this.#lastUsed.set(lastUsedField(kind, id, credentialId), atMs);
  }

  async lastUsed(kind: RegistryKind, id: string): Promise<Record<string, number>> {
    const prefix = lastUsedField(kind, id, '');
    const out: Record<string, number> = {};
    for (const [field, ms] of this.#lastUsed) if (field.startsWith(prefix)) out[field.slice(prefix.length)] = ms;
    return out;
  }

  #atVersion(opts: WriteOptions): boolean {
    return opts.version === undefined || opts.version === this.#version;
  }

  #write(kind: RegistryKind, id: string, doc: string, opts: WriteOptions = {}): void {
    this.#docs[kind].set(id, doc);
    const member = changeMessage({ kind, id });
    if (opts.pending === true) this.#pending.add(member);
    else if (opts.pending === false) this.#pending.delete(member);
    this.#announce({ kind, id });
  }

  #announce(change: RegistryChange): void {
    const announced: AnnouncedChange = { ...change, version: ++this.#version };
    // as Redis pub/sub: delivered after the write has returned, never inside it
    queueMicrotask(() => this.#changes.emit(CHANGED, announced));
  }
}
