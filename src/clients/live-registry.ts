import type { Logger } from 'pino';
import type { AnnouncedChange, RegistryKind, RegistryStore } from '../store/registry.js';
import { agentOf, isDeleted, readStored, resourceServerOf, type AgentRecord, type ResourceServerRecord } from './records.js';
import type { Agent, ClientKind, Registry, ResourceServer, TrustedIssuer } from './types.js';

/**
 * How often an instance compares the registry's version with its copy's, to catch a missed
 * announcement: a version two polls in a row find ahead of the copy, so a missed one is caught
 * within twice this.
 */
export const REGISTRY_POLL_MS = 500;
/** A credential's lastUsed is written at most this often per credential and instance. */
export const LAST_USED_EVERY_MS = 60_000;

/**
 * The registry every request reads: an in-process copy of the RegistryStore, refreshed entry by
 * entry when a change is announced (pub/sub), and whole only when the stored version moved without
 * an announcement reaching us: announcements are applied in order, each carrying the version it
 * produced, so the copy's version follows them while none is missed. (Re-reading the whole
 * registry on every change cost each instance ~0.1–0.4 s per change at 11,000 entries, and Redis
 * 25–97 ms in one script: bench/registry-growth.mjs.) Lookups never touch Redis, so issuance and
 * introspection cost no extra round trip. The copy may lag another instance's change by the announcement's delay; what
 * must hold at once does not rely on it: a disabled agent's status key is checked by the atomic
 * create, and its sessions are killed (docs/security.md, "The kill switch and the live registry").
 * Trusted issuers stay in the file (`issuers`).
 */
export class LiveRegistry implements Registry {
  readonly #store: RegistryStore;
  readonly #issuers: Map<string, TrustedIssuer>;
  readonly #log: Logger;
  readonly #nowMs: () => number;
  #agents = new Map<string, Agent>();
  #servers = new Map<string, ResourceServer>();
  #version = -1;
  /** The stored version the last poll found ahead of the copy, if it did. */
  #aheadAtLastPoll: number | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #poller: NodeJS.Timeout | undefined;
  /** Announced changes and whole reloads, one after another: a reload's older snapshot never lands between a change and its version. */
  #queue: Promise<void> = Promise.resolve();
  readonly #lastTouched = new Map<string, number>();

  constructor(store: RegistryStore, issuers: TrustedIssuer[], log: Logger, nowMs: () => number) {
    this.#store = store;
    this.#issuers = new Map(issuers.map((t) => [t.issuer, Object.freeze(t)]));
    this.#log = log;
    this.#nowMs = nowMs;
  }

  /** Listens first, then loads: a change made while loading is announced and applied after. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#store.subscribe((c) => void this.#queued(() => this.#apply(c)));
    await this.#queued(() => this.reload());
    this.#poller = setInterval(() => void this.#poll(), REGISTRY_POLL_MS).unref();
  }

  /** Whether the copy has been read whole at least once (readiness). */
  get loaded(): boolean {
    return this.#version >= 0;
  }

  async close(): Promise<void> {
    clearInterval(this.#poller);
    await this.#unsubscribe?.();
  }

  agent(id: string): Agent | undefined {
    return this.#agents.get(id);
  }

  /** Every live agent: the access review reads them all (and who acts for whom). */
  agents(): Agent[] {
    return [...this.#agents.values()];
  }

  resourceServer(id: string): ResourceServer | undefined {
    return this.#servers.get(id);
  }

  resourceServers(): ResourceServer[] {
    return [...this.#servers.values()];
  }

  trustedIssuer(issuer: string): TrustedIssuer | undefined {
    return this.#issuers.get(issuer);
  }

  /** Off the request: a throttled, fire-and-forget write; losing one costs a stale lastUsed, never an answer. */
  credentialUsed(kind: ClientKind, clientId: string, credentialId: string): void {
    const key = `${kind}\0${clientId}\0${credentialId}`;
    const now = this.#nowMs();
    if (now - (this.#lastTouched.get(key) ?? -Infinity) < LAST_USED_EVERY_MS) return;
    this.#lastTouched.set(key, now);
    this.#store.touch(kind, clientId, credentialId, now).catch(() => this.#lastTouched.delete(key));
  }

  /** Re-reads one entry (after a change announced, or made by this instance). */
  async refresh(kind: RegistryKind, id: string): Promise<void> {
    const doc = await this.#store.get(kind, id);
    const record = doc === undefined ? undefined : readStored<AgentRecord | ResourceServerRecord>(kind, doc);
    const live = record && !isDeleted(record) ? record : undefined;
    if (kind === 'agent') {
      if (live) this.#agents.set(id, agentOf(live as AgentRecord));
      else this.#agents.delete(id);
    } else if (live) this.#servers.set(id, resourceServerOf(live as ResourceServerRecord));
    else this.#servers.delete(id);
  }

  /**
   * One announced change: the entry re-read, and the copy's version moved to the change's when it
   * is the next one. A gap (a change not heard) or a failed read leaves the version behind, and the
   * poll re-reads everything.
   */
  async #apply(c: AnnouncedChange): Promise<void> {
    try {
      await this.refresh(c.kind, c.id);
      if (c.version === this.#version + 1) this.#version = c.version;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, kind: c.kind, id: c.id }, 'registry refresh failed; the version poll retries');
    }
  }

  /** Reads everything; the version it read at is the one the poll compares with. */
  async reload(): Promise<void> {
    const [agents, servers] = await Promise.all([this.#store.all('agent'), this.#store.all('resourceServer')]);
    this.#agents = liveEntries('agent', agents.docs, (r: AgentRecord) => agentOf(r));
    this.#servers = liveEntries('resourceServer', servers.docs, (r: ResourceServerRecord) => resourceServerOf(r));
    this.#version = Math.min(agents.version, servers.version);
  }

  #queued(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A whole read only once an announcement was missed: the copy is still behind a version the
   * previous poll saw (or the store went back, as after a flush). A version just ahead is usually a
   * change whose announcement is still on its way on the other connection; re-reading 11,000 entries
   * for it held the next changes back by up to 357 ms (bench/registry-growth.mjs).
   */
  async #poll(): Promise<void> {
    try {
      const stored = await this.#store.version();
      const missed = stored < this.#version || (this.#aheadAtLastPoll !== undefined && this.#version < this.#aheadAtLastPoll);
      this.#aheadAtLastPoll = stored > this.#version && !missed ? stored : undefined;
      if (missed) await this.#queued(() => this.reload());
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'registry version poll failed');
    }
  }
}

function liveEntries<R extends object, T>(kind: RegistryKind, docs: Map<string, string>, of: (r: R) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const [id, doc] of docs) {
    const r = readStored<R>(kind, doc);
    if (!isDeleted(r)) out.set(id, of(r));
  }
  return out;
}
