import type { ReplayStore, SessionStore } from '../index.js';
import { agentsOf, type Session, type SessionFilter } from '../types.js';

/** How often expired entries are swept out, so the embedded store's memory stays bounded. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * The embedded dev store (`npm start` without REDIS_URL): one process, nothing kept on exit.
 * Same contract as the Redis store; every method is synchronous inside, so each is atomic.
 */
export class MemorySessionStore implements SessionStore, ReplayStore {
  readonly #sessions = new Map<string, Session>();
  readonly #children = new Map<string, Set<string>>();
  readonly #used = new Map<string, number>();
  readonly #sweeper: NodeJS.Timeout;

  constructor() {
    this.#sweeper = setInterval(() => this.#sweep(Date.now()), SWEEP_INTERVAL_MS).unref();
  }

  async create(s: Session, nowMs: number): Promise<boolean> {
    if (!s.ancestors.every((a) => this.#live(a, nowMs))) return false;
    this.#sessions.set(s.sid, structuredClone(s));
    if (s.parent) {
      const kids = this.#children.get(s.parent) ?? new Set<string>();
      this.#children.set(s.parent, kids.add(s.sid));
    }
    return true;
  }

  async findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined> {
    const s = this.#sessions.get(sid);
    if (!s || s.tokenHash !== tokenHash || !this.#chainLive(s, nowMs)) return undefined;
    return structuredClone(s);
  }

  findClaimsByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined> {
    return this.findByToken(sid, tokenHash, nowMs);
  }

  async subtree(sid: string, nowMs: number): Promise<Session[]> {
    const root = this.#sessions.get(sid);
    if (!root || !this.#chainLive(root, nowMs)) return [];
    const out: Session[] = [];
    const queue = [sid];
    for (let i = 0; i < queue.length; i++) {
      const s = this.#sessions.get(queue[i]!);
      if (!s || s.exp * 1000 <= nowMs) continue;
      out.push(structuredClone(s));
      queue.push(...(this.#children.get(s.sid) ?? []));
    }
    return out;
  }

  async list(filter: SessionFilter, nowMs: number, limit: number): Promise<Session[]> {
    const matches = [...this.#sessions.values()]
      .filter((s) => s.exp * 1000 > nowMs)
      .filter((s) => !filter.agent || agentsOf(s).includes(filter.agent))
      .filter((s) => !filter.sub || s.sub === filter.sub)
      .sort((a, b) => a.exp - b.exp);
    return matches.slice(0, limit).map((s) => structuredClone(s));
  }

  async revokeTree(sid: string): Promise<number> {
    const root = this.#sessions.get(sid);
    if (root?.parent) this.#children.get(root.parent)?.delete(sid);
    let revoked = 0;
    const queue = [sid];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!;
      const s = this.#sessions.get(id);
      if (s && s.exp * 1000 > Date.now()) revoked++;
      this.#sessions.delete(id);
      queue.push(...(this.#children.get(id) ?? []));
      this.#children.delete(id);
    }
    return revoked;
  }

  async revokeAgent(agentId: string, nowMs: number): Promise<number> {
    const held = [...this.#sessions.values()].filter((s) => s.exp * 1000 > nowMs && agentsOf(s).includes(agentId));
    let revoked = 0;
    for (const s of held) revoked += await this.revokeTree(s.sid);
    return revoked;
  }

  async useOnce(id: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    const until = this.#used.get(id);
    if (until !== undefined && until > nowMs) return false;
    this.#used.set(id, expiresAtMs);
    return true;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #live(sid: string, nowMs: number): boolean {
    const s = this.#sessions.get(sid);
    return s !== undefined && s.exp * 1000 > nowMs;
  }

  #chainLive(s: Session, nowMs: number): boolean {
    return s.exp * 1000 > nowMs && s.ancestors.every((a) => this.#live(a, nowMs));
  }

  #sweep(nowMs: number): void {
    for (const [sid, s] of this.#sessions) {
      if (s.exp * 1000 <= nowMs) {
        this.#sessions.delete(sid);
        this.#children.delete(sid);
      }
    }
    for (const [id, until] of this.#used) if (until <= nowMs) this.#used.delete(id);
  }
}
