import type { Logger } from 'pino';
import { dayOf, type UsageKind, type UsageRow, type UsageStore } from '../store/usage.js';

const MS_PER_DAY = 86_400_000;
import type { EventSink } from './events.js';

/**
 * Usage in process: per (kind, via, agent, target, scope) a count and the last time, flushed to
 * the usage store every few seconds, so neither issuance nor introspection writes a record for it.
 * A failed flush keeps the counts for the next one.
 */
export class UsageAggregator {
  #pending = new Map<string, { day: string; row: UsageRow }>();
  #timer: NodeJS.Timeout | undefined;
  #day = { from: 0, to: 0, name: '' };

  constructor(private readonly store: UsageStore, private readonly retentionDays: number) {}

  /**
   * On every introspection: the in-process key joins the parts with NUL, which no id, URL or scope
   * can hold (the store's own field, JSON, is written at flush), and the day's name is reused.
   */
  note(kind: UsageKind, via: string, agent: string, target: string, scopes: readonly string[], nowMs: number): void {
    const day = this.#dayOf(nowMs);
    const prefix = `${day}\0${kind}\0${via}\0${agent}\0${target}\0`;
    for (const scope of scopes) {
      const key = prefix + scope;
      const p = this.#pending.get(key);
      if (p) {
        p.row.count++;
        if (nowMs > p.row.lastMs) p.row.lastMs = nowMs;
      } else {
        this.#pending.set(key, { day, row: { kind, via, agent, target, scope, count: 1, lastMs: nowMs } });
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
    const byDay = new Map<string, UsageRow[]>();
    for (const { day, row } of batch.values()) {
      const rows = byDay.get(day);
      if (rows) rows.push(row);
      else byDay.set(day, [row]);
    }
    try {
      for (const [day, rows] of byDay) await this.store.add(day, rows, this.retentionDays);
    } catch (err) {
      for (const [key, { day, row }] of batch) {
        const now = this.#pending.get(key);
        if (now) {
          now.row.count += row.count;
          now.row.lastMs = Math.max(now.row.lastMs, row.lastMs);
        } else {
          this.#pending.set(key, { day, row });
        }
      }
      throw err;
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
