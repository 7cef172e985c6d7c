import type { ReplaySpace, ReplayStore, SessionStore } from '../index.js';
import { chainLive, MS_PER_EXP_UNIT, tokenLive, unexpired } from '../liveness.js';
import {
  agentKillMarker, agentsNamedBy, agentsOf, AGENT_KILL_MARKER_TTL_MS, assertStorable, killedSession, rootOf,
  type CreateOutcome, type KillTag, type RemovedSession, type ListOrder, type Session, type SessionFilter, type TokenClaims,
  type UnannouncedSession, type UnannouncedTree,
} from '../types.js';

/** How often expired entries are swept out, so the embedded store's memory stays bounded. */
const SWEEP_INTERVAL_MS = 30_000;

interface KillMarker {
  /** Creates for requests that arrived at or before this (ms) are refused. */
  notBeforeMs: number;
  expiresMs: number;
}

/**
 * The embedded dev store (`npm start` without REDIS_URL): one process, nothing kept on exit.
 * Same contract as the Redis store; every method is synchronous inside, so each is atomic.
 */
export class MemorySessionStore implements SessionStore, ReplayStore {
  readonly #sessions = new Map<string, Session>();
  readonly #children = new Map<string, Set<string>>();
  /** `<space> <id>` → until when the id stays used (ms). */
  readonly #used = new Map<string, number>();
  readonly #killMarkers = new Map<string, KillMarker>();
  /** Killed sid → its session's expiry (ms): see wasKilled. */
  readonly #killed = new Map<string, number>();
  readonly #disabled = new Set<string>();
  /** The kill outbox: root → sid → the unannounced session (see SessionStore.revokeTree). */
  readonly #outbox = new Map<string, Map<string, UnannouncedSession>>();
  /** `<root>|<kill id>` → when that kill began (ms): trees a kill is filling. */
  readonly #marks = new Map<string, { root: string; sinceMs: number }>();
  readonly #sweeper: NodeJS.Timeout;

  /** `nowMs` only times the sweeper; every method takes its time from its caller. */
  constructor(nowMs: () => number = Date.now) {
    this.#sweeper = setInterval(() => this.#sweep(nowMs()), SWEEP_INTERVAL_MS).unref();
  }

  async create(s: Session, nowMs: number, startedMs: number): Promise<CreateOutcome> {
    assertStorable(s);
    if (!s.ancestors.every((a) => this.#live(a, nowMs))) return 'ancestor_revoked';
    if (agentsNamedBy(s).some((a) => this.#disabled.has(a))) return 'agent_disabled';
    for (const agent of agentsNamedBy(s)) {
      const m = this.#killMarkers.get(agent);
      if (m && m.expiresMs > nowMs && m.notBeforeMs >= startedMs) return 'agent_revoked';
    }
    if (!unexpired(s.exp, nowMs)) return 'expired';
    this.#sessions.set(s.sid, structuredClone(s));
    if (s.parent) {
      const kids = this.#children.get(s.parent) ?? new Set<string>();
      this.#children.set(s.parent, kids.add(s.sid));
    }
    return 'created';
  }

  async findByToken(sid: string, tokenHash: string, nowMs: number): Promise<Session | undefined> {
    const s = this.#sessions.get(sid);
    if (!s || !tokenLive(s, tokenHash, nowMs, (a) => this.#live(a, nowMs))) return undefined;
    return structuredClone(s);
  }

  async findClaimsByToken(sid: string, tokenHash: string, nowMs: number, aud?: string): Promise<TokenClaims | undefined> {
    if (aud !== undefined && this.#sessions.get(sid)?.aud !== aud) return undefined;
    return this.findByToken(sid, tokenHash, nowMs);
  }

  async subtree(sid: string, nowMs: number): Promise<Session[]> {
    const top = this.#sessions.get(sid);
    if (!top || !chainLive(top, nowMs, (a) => this.#live(a, nowMs))) return [];
    const out: Session[] = [];
    const queue = [sid];
    for (let i = 0; i < queue.length; i++) {
      const s = this.#sessions.get(queue[i]!);
      if (!s || !unexpired(s.exp, nowMs)) continue;
      out.push(structuredClone(s));
      queue.push(...(this.#children.get(s.sid) ?? []));
    }
    return out;
  }

  async list(filter: SessionFilter, nowMs: number, limit: number, order: ListOrder = 'soonest_expiry'): Promise<Session[]> {
    const matches = [...this.#sessions.values()]
      .filter((s) => unexpired(s.exp, nowMs))
      .filter((s) => !filter.agent || agentsOf(s).includes(filter.agent))
      .filter((s) => !filter.sub || s.sub === filter.sub)
      .sort((a, b) => (order === 'latest_expiry' ? b.exp - a.exp : a.exp - b.exp));
    return matches.slice(0, limit).map((s) => structuredClone(s));
  }

  async revokeTree(sid: string, nowMs: number, tag?: KillTag): Promise<RemovedSession[]> {
    const root = this.#sessions.get(sid);
    if (root?.parent) this.#children.get(root.parent)?.delete(sid);
    const removed: RemovedSession[] = [];
    const queue = [sid];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!;
      const s = this.#sessions.get(id);
      if (s && unexpired(s.exp, nowMs)) {
        removed.push({ ...killedSession(s), ...(s.act ? { act: structuredClone(s.act) } : {}) });
        this.#killed.set(s.sid, s.exp * MS_PER_EXP_UNIT);
      }
      this.#sessions.delete(id);
      queue.push(...(this.#children.get(id) ?? []));
      this.#children.delete(id);
    }
    if (tag && removed.length) this.#keepUnannounced(rootOf(sid), removed, tag, nowMs);
    return removed;
  }

  async revokeAgent(agentId: string, nowMs: number, tag?: KillTag): Promise<RemovedSession[]> {
    const notBeforeMs = Math.max(agentKillMarker(nowMs), this.#killMarkers.get(agentId)?.notBeforeMs ?? 0);
    this.#killMarkers.set(agentId, { notBeforeMs, expiresMs: nowMs + AGENT_KILL_MARKER_TTL_MS });
    const held = [...this.#sessions.values()].filter((s) => unexpired(s.exp, nowMs) && agentsOf(s).includes(agentId));
    const removed: RemovedSession[] = [];
    for (const s of held) removed.push(...(await this.revokeTree(s.sid, nowMs, tag)));
    return removed;
  }

  #keepUnannounced(root: string, removed: RemovedSession[], tag: KillTag, nowMs: number): void {
    let box = this.#outbox.get(root);
    if (!box) this.#outbox.set(root, (box = new Map()));
    for (const r of removed) box.set(r.sid, { ...killedSession(r), kill: tag.kill, reason: tag.reason });
    this.#marks.set(`${root}|${tag.id}`, { root, sinceMs: nowMs });
  }

  async announced(removed: RemovedSession[], tag: KillTag): Promise<void> {
    for (const r of removed) {
      const root = rootOf(r.sid);
      this.#outbox.get(root)?.delete(r.sid);
      this.#marks.delete(`${root}|${tag.id}`);
    }
  }

  async unannounced(beforeMs: number, limit: number): Promise<UnannouncedTree[]> {
    const byRoot = new Map<string, string[]>();
    const overdue = [...this.#marks].filter(([, m]) => m.sinceMs < beforeMs).sort((a, b) => a[1].sinceMs - b[1].sinceMs).slice(0, limit);
    for (const [mark, m] of overdue) byRoot.set(m.root, [...(byRoot.get(m.root) ?? []), mark]);
    return [...byRoot].map(([root, marks]) => ({ root, marks, sessions: [...(this.#outbox.get(root)?.values() ?? [])].map((s) => ({ ...s })) }));
  }

  async forgetAnnounced(trees: UnannouncedTree[]): Promise<void> {
    for (const t of trees) {
      const box = this.#outbox.get(t.root);
      for (const s of t.sessions) box?.delete(s.sid);
      if (box?.size === 0) this.#outbox.delete(t.root);
      for (const mark of t.marks) this.#marks.delete(mark);
    }
  }

  async wasKilled(sid: string, nowMs: number): Promise<boolean> {
    return (this.#killed.get(sid) ?? 0) > nowMs;
  }

  async setAgentDisabled(agentId: string, disabled: boolean): Promise<void> {
    if (disabled) this.#disabled.add(agentId);
    else this.#disabled.delete(agentId);
  }

  async enableAgent(agentId: string, nowMs: number): Promise<void> {
    this.#disabled.delete(agentId);
    const m = this.#killMarkers.get(agentId);
    if (m && m.notBeforeMs >= nowMs) m.notBeforeMs = nowMs - 1;
  }

  async useOnce(space: ReplaySpace, id: string, expiresAtMs: number, nowMs: number): Promise<boolean> {
    const key = `${space} ${id}`;
    const until = this.#used.get(key);
    if (until !== undefined && until > nowMs) return false;
    this.#used.set(key, expiresAtMs);
    return true;
  }

  async countLive(nowMs: number): Promise<number> {
    let n = 0;
    for (const s of this.#sessions.values()) if (unexpired(s.exp, nowMs)) n++;
    return n;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** For tests: everything the store holds, one sorted line per entry, to prove a refusal wrote nothing. */
  snapshot(): string[] {
    const lines: string[] = [];
    for (const [sid, s] of this.#sessions) lines.push(`session ${sid} ${JSON.stringify(s)}`);
    for (const [sid, kids] of this.#children) lines.push(`children ${sid} ${[...kids].sort().join(' ')}`);
    for (const [id, until] of this.#used) lines.push(`used ${id} ${until}`);
    for (const agent of this.#disabled) lines.push(`disabled ${agent}`);
    for (const [agent, m] of this.#killMarkers) lines.push(`kill-marker ${agent} ${m.notBeforeMs} ${m.expiresMs}`);
    for (const [root, box] of this.#outbox) for (const [sid, s] of box) lines.push(`outbox ${root} ${sid} ${JSON.stringify(s)}`);
    for (const [mark, m] of this.#marks) lines.push(`unannounced ${mark} ${m.sinceMs}`);
    return lines.sort();
  }

  #live(sid: string, nowMs: number): boolean {
    const s = this.#sessions.get(sid);
    return s !== undefined && unexpired(s.exp, nowMs);
  }

  #sweep(nowMs: number): void {
    for (const [sid, s] of this.#sessions) {
      if (!unexpired(s.exp, nowMs)) {
        this.#sessions.delete(sid);
        this.#children.delete(sid);
      }
    }
    for (const [id, until] of this.#used) if (until <= nowMs) this.#used.delete(id);
    for (const [agent, m] of this.#killMarkers) if (m.expiresMs <= nowMs) this.#killMarkers.delete(agent);
    for (const [sid, until] of this.#killed) if (until <= nowMs) this.#killed.delete(sid);
    for (const [root, box] of this.#outbox) {
      for (const [sid, s] of box) if (s.exp * MS_PER_EXP_UNIT <= nowMs) box.delete(sid);
      if (box.size === 0) this.#outbox.delete(root);
    }
  }
}
