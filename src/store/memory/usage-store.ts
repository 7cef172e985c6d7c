import { fromField, namesAgent, retainedDays, usageField, type UsageRow, type UsageStore } from '../usage.js';

/** The embedded twin: per day, field → count and last time. Nothing kept on exit. */
export class MemoryUsageStore implements UsageStore {
  readonly #days = new Map<string, Map<string, { count: number; lastMs: number }>>();

  async add(day: string, rows: UsageRow[], _retentionDays: number): Promise<void> {
    const d = this.#days.get(day) ?? new Map<string, { count: number; lastMs: number }>();
    this.#days.set(day, d);
    for (const r of rows) {
      const f = usageField(r);
      const old = d.get(f);
      d.set(f, { count: (old?.count ?? 0) + r.count, lastMs: Math.max(old?.lastMs ?? 0, r.lastMs) });
    }
  }

  async forget(agent: string, retentionDays: number, nowMs: number): Promise<void> {
    for (const day of retainedDays(retentionDays, nowMs)) {
      const d = this.#days.get(day);
      for (const f of [...(d?.keys() ?? [])]) if (namesAgent(fromField(f, 0, 0), agent)) d!.delete(f);
    }
  }

  async read(days: string[]): Promise<UsageRow[]> {
    const out: UsageRow[] = [];
    for (const day of days) for (const [f, v] of this.#days.get(day) ?? []) out.push(fromField(f, v.count, v.lastMs));
    return out;
  }
}
