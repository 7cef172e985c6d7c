import { guard, defineScript, type Script } from './session-store.js';
import type { RedisClient } from './connect.js';
import type { RedisKeys } from '../keys.js';
import { changeMessage, lastUsedField, parseAnnouncement, parseChange, type AnnouncedChange, type RegistryChange, type RegistryKind, type RegistryStore, type WriteOptions } from '../registry.js';
import * as lua from './scripts.js';

/**
 * The live registry in Redis: one HASH of JSON documents per kind, a version counter and a pub/sub
 * channel, all under one hash tag so a change is one atomic script on a single Redis and a cluster.
 */
export class RedisRegistryStore implements RegistryStore {
  readonly #redis: RedisClient;
  readonly #keys: RedisKeys;
  readonly #write: Script;
  readonly #readAll: Script;

  constructor(redis: RedisClient, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
    this.#write = defineScript(redis, 'stsRegistryWrite', lua.REGISTRY_WRITE);
    this.#readAll = defineScript(redis, 'stsRegistryReadAll', lua.REGISTRY_READ_ALL);
  }

  #docsKey(kind: RegistryKind): string {
    return kind === 'agent' ? this.#keys.registryAgents() : this.#keys.registryResourceServers();
  }

  async #change(op: 'add' | 'put' | 'replace' | 'remove', kind: RegistryKind, id: string, doc = '', expected = '', opts: WriteOptions = {}): Promise<boolean> {
    const k = this.#keys;
    const keys = lua.REGISTRY_WRITE_KEYS.build({ docsKey: this.#docsKey(kind), versionKey: k.registryVersion(), pendingKey: k.registryPending() });
    const args = lua.REGISTRY_WRITE_ARGS.build({
      op, id, doc, expected, channel: k.registryChannel(), message: changeMessage({ kind, id }),
      atVersion: opts.version === undefined ? '' : String(opts.version), pending: opts.pending === undefined ? '' : opts.pending ? '1' : '0',
    });
    return (await guard(this.#write(keys, args))) === 1;
  }

  async get(kind: RegistryKind, id: string): Promise<string | undefined> {
    return (await guard(this.#redis.hget(this.#docsKey(kind), id))) ?? undefined;
  }

  async all(kind: RegistryKind): Promise<{ docs: Map<string, string>; version: number }> {
    const keys = lua.REGISTRY_READ_KEYS.build({ docsKey: this.#docsKey(kind), versionKey: this.#keys.registryVersion() });
    const flat = (await guard(this.#readAll(keys, []))) as string[];
    const docs = new Map<string, string>();
    for (let i = 1; i < flat.length; i += 2) docs.set(flat[i]!, flat[i + 1]!);
    return { docs, version: Number(flat[0]) };
  }

  add(kind: RegistryKind, id: string, doc: string, opts?: WriteOptions): Promise<boolean> {
    return this.#change('add', kind, id, doc, '', opts);
  }

  async put(kind: RegistryKind, id: string, doc: string): Promise<void> {
    await this.#change('put', kind, id, doc);
  }

  replace(kind: RegistryKind, id: string, expected: string, doc: string, opts?: WriteOptions): Promise<boolean> {
    return this.#change('replace', kind, id, doc, expected, opts);
  }

  remove(kind: RegistryKind, id: string): Promise<boolean> {
    return this.#change('remove', kind, id);
  }

  async version(): Promise<number> {
    return Number((await guard(this.#redis.get(this.#keys.registryVersion()))) ?? 0);
  }

  async pending(): Promise<RegistryChange[]> {
    return (await guard(this.#redis.smembers(this.#keys.registryPending()))).flatMap((m) => parseChange(m) ?? []);
  }

  /** A dedicated connection (a subscribed one can send nothing else); ioredis resubscribes after a reconnect. */
  async subscribe(onChange: (change: AnnouncedChange) => void): Promise<() => Promise<void>> {
    const sub = (this.#redis.duplicate as () => RedisClient).call(this.#redis);
    sub.on('error', () => {}); // reconnects on its own; a missed message is caught by the version poll
    const channel = this.#keys.registryChannel();
    sub.on('message', (from: string, message: string) => {
      const change = from === channel ? parseAnnouncement(message) : undefined;
      if (change) onChange(change);
    });
    await guard(sub.connect());
    await guard(sub.subscribe(channel));
    return async () => {
      sub.disconnect();
    };
  }

  async touch(kind: RegistryKind, id: string, credentialId: string, atMs: number): Promise<void> {
    await guard(this.#redis.hset(this.#keys.credentialLastUsed(), lastUsedField(kind, id, credentialId), atMs));
  }

  async lastUsed(kind: RegistryKind, id: string): Promise<Record<string, number>> {
    const all = await guard(this.#redis.hgetall(this.#keys.credentialLastUsed()));
    const prefix = lastUsedField(kind, id, '');
    const out: Record<string, number> = {};
    for (const [field, ms] of Object.entries(all)) if (field.startsWith(prefix)) out[field.slice(prefix.length)] = Number(ms);
    return out;
  }
}
