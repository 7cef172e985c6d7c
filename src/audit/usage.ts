import type { Logger } from 'pino';
import { dayOf, type UsageKind, type UsageRow, type UsageStore } from '../store/usage.js';
import type { EventSink } from './events.js';

const MS_PER_DAY = 86_400_000;

/** day → kind → via → agent → target → scope → row. */
type Tree = Map<string, Tree | UsageRow>;
type Pending = Map<string, Tree>;

/** The map under `key`, made on first use. */
function level(map: Tree, key: string): Tree {
  let next = map.get(key) as Tree | undefined;
  if (!next) {
    next = new Map();
    map.set(key, next);
  }
  return next;
}

/** The rows by scope of one (day, kind, via, agent, target). */
function scopesOf(pending: Pending, day: string, kind: UsageKind, via: string, agent: string, target: string): Map<string, UsageRow> {
  return level(level(level(level(level(pending, day), kind), via), agent), target) as Map<string, UsageRow>;
}

/** Every row under a day's tree (rows are the leaves: they are not maps). */
function rowsOf(tree: Tree, out: UsageRow[] = []): UsageRow[] {
  for (const v of tree.values()) {
    if (v instanceof Map) rowsOf(v, out);
    else out.push(v);
  }
  return out;
}

/**
 * Usage in process: per (kind, via, agent, target, scope) a count and the last time, flushed to
 * the usage store every few seconds, so neither issuance nor introspection writes a record for it.
 * A failed flush keeps the counts for the next one.
 */
export class UsageAggregator {
  #pending: Pending = new Map();
  #timer: NodeJS.Timeout | undefined;
  #day = { from: 0, to: 0, name: '' };

  constructor(private readonly store: UsageStore, private readonly retentionDays: number) {}

  /**
   * On every introspection: one Map level per part (day, kind, via, agent, target, scope), so a
   * count that exists costs lookups only: no key is built and nothing is allocated (a joined key
   * cost ~0.6 µs a call, 1–2% of an introspection). The store's own field, JSON, is written at flush.
   */
  note(kind: UsageKind, via: string, agent: string, target: string, scopes: readonly string[], nowMs: number): void {
    const day = this.#dayOf(nowMs);
    const byScope = scopesOf(this.#pending, day, kind, via, agent, target);
    for (const scope of scopes) {
      const row = byScope.get(scope);
      if (row) {
        row.count++;
        if (nowMs > row.lastMs) row.lastMs = nowMs;
      } else {
        byScope.set(scope, { kind, via, agent, target, scope, count: 1, lastMs: nowMs });
      }
    }
  }

  #dayOf(nowMs: number): string {
    const d = this.#day;
    if (nowMs < d.from || nowMs >= d.to) {
      d.from = nowMs - (nowMs % MS_PER_DAY);
      d.to = d.from + MS_PER_DAY;
      d.name = dayOf(nowMs);
    }
    return d.name;
  }

  async flush(): Promise<void> {
    const batch = this.#pending;
    if (batch.size === 0) return;
    this.#pending = new Map();
    const byDay = [...batch].map(([day, tree]) => [day, rowsOf(tree)] as const);
    try {
      for (const [day, rows] of byDay) await this.store.add(day, rows, this.retentionDays);
    } catch (err) {
      for (const [day, rows] of byDay) for (const r of rows) this.#restore(day, r);
      throw err;
    }
  }

  /** A row whose flush failed goes back, merged with what was counted since. */
  #restore(day: string, r: UsageRow): void {
    const byScope = scopesOf(this.#pending, day, r.kind, r.via, r.agent, r.target);
    const now = byScope.get(r.scope);
    if (now) {
      now.count += r.count;
      now.lastMs = Math.max(now.lastMs, r.lastMs);
    } else {
      byScope.set(r.scope, r);
    }
  }

  /** Drops this process's unflushed counts naming the agent (it was deleted). */
  forget(agent: string): void {
    for (const tree of this.#pending.values()) {
      for (const [kind, byVia] of tree as Map<string, Tree>) {
        for (const [via, byAgent] of byVia as Map<string, Tree>) {
          if (kind === 'issued' && via === agent) byVia.delete(via);
          else byAgent.delete(agent);
        }
      }
    }
  }

  /** Flushes every `intervalMs`; the timer never keeps the process alive. */
  start(intervalMs: number, log: Logger): void {
    this.stop();
    this.#timer = setInterval(() => {
      this.flush().catch((err: unknown) => log.warn({ err }, 'usage flush failed; counts kept for the next one'));
    }, intervalMs).unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Issuances reach the aggregator through the event sink: the same events the trail records. */
export function usageSink(usage: UsageAggregator): EventSink {
  return {
    async record(e) {
      if (e.type === 'token.issued') usage.note('issued', e.parentAgent ?? '', e.agent, e.aud, e.scope, Date.parse(e.time));
    },
    emit() {},
  };
}
