import { AUDIT_TRIM_EVERY, compareIds, GENESIS_HASH, idTimeMs, linkHash, type Appended, type AuditAppend, type AuditHead, type AuditLog, type AuditRange, type AuditRecord } from '../audit.js';

/** The embedded trail: one process, nothing kept on exit. Same contract as the Redis stream. */
export class MemoryAuditLog implements AuditLog {
  readonly #records: AuditRecord[] = [];
  #head: AuditHead = { seq: 0, hash: GENESIS_HASH };
  #lastMs = 0;
  #lastN = 0;
  #checkpoint: string | undefined;

  constructor(private readonly nowMs: () => number = Date.now) {}

  #nextId(): string {
    const ms = Math.max(this.nowMs(), this.#lastMs);
    this.#lastN = ms === this.#lastMs ? this.#lastN + 1 : 0;
    this.#lastMs = ms;
    return `${ms}-${this.#lastN}`;
  }

  async append(e: AuditAppend): Promise<Appended> {
    const seq = this.#head.seq + 1;
    const prev = this.#head.hash;
    const hash = linkHash(seq, prev, e.digest);
    this.#records.push({ id: this.#nextId(), seq, prev, hash, body: e.body });
    this.#head = { seq, hash };
    if (seq % AUDIT_TRIM_EVERY === 0) this.#trim(e);
    return { seq, hash, prev };
  }

  #trim(e: AuditAppend): void {
    if (e.maxRecords > 0 && this.#records.length > e.maxRecords) this.#records.splice(0, this.#records.length - e.maxRecords);
    if (e.minTimeMs > 0) {
      const keepFrom = this.#records.findIndex((r) => idTimeMs(r.id) >= e.minTimeMs);
      this.#records.splice(0, keepFrom < 0 ? this.#records.length : keepFrom);
    }
  }

  async head(): Promise<AuditHead> {
    return { ...this.#head };
  }

  #inRange(r: AuditRecord, range: AuditRange): boolean {
    const t = idTimeMs(r.id);
    return (range.sinceMs === undefined || t >= range.sinceMs) && (range.untilMs === undefined || t <= range.untilMs);
  }

  async forward(range: AuditRange): Promise<AuditRecord[]> {
    const from = range.from;
    return this.#records.filter((r) => (from === undefined || compareIds(r.id, from) > 0) && this.#inRange(r, range)).slice(0, range.count).map((r) => ({ ...r }));
  }

  async backward(range: AuditRange): Promise<AuditRecord[]> {
    const from = range.from;
    const out: AuditRecord[] = [];
    for (let i = this.#records.length - 1; i >= 0 && out.length < range.count; i--) {
      const r = this.#records[i]!;
      if ((from === undefined || compareIds(r.id, from) < 0) && this.#inRange(r, range)) out.push({ ...r });
    }
    return out;
  }

  async checkpoint(): Promise<string | undefined> {
    return this.#checkpoint;
  }

  async saveCheckpoint(jws: string): Promise<void> {
    this.#checkpoint = jws;
  }

  async length(): Promise<number> {
    return this.#records.length;
  }
}
