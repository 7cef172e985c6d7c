import type { Logger } from 'pino';
import { dayOf, usageField, type UsageKind, type UsageRow, type UsageStore } from '../store/usage.js';
import type { EventSink } from './events.js';

/**
 * Usage in process: per (kind, via, agent, target, scope) a count and the last time, flushed to
 * the usage store every few seconds, so neither issuance nor introspection writes a record for it.
 * A failed flush keeps the counts for the next one.
 */
export class UsageAggregator {
  #pending = new Map<string, { day: string; row: UsageRow }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly store: UsageStore, private readonly retentionDays: number) {}

  note(kind: UsageKind, via: string, agent: string, target: string, scopes: readonly string[], nowMs: number): void {
    const day = dayOf(nowMs);
    for (const scope of scopes) {
      const key = day + usageField({ kind, via, agent, target, scope });
      const p = this.#pending.get(key);
      if (p) {
        p.row.count++;
        p.row.lastMs = nowMs;
      } else {
        this.#pending.set(key, { day, row: { kind, via, agent, target, scope, count: 1, lastMs: nowMs } });
      }
    }
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
