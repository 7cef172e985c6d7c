import { GENESIS_HASH, type Appended, type AuditAppend, type AuditHead, type AuditLog, type AuditRange, type AuditRecord } from '../audit.js';
import type { RedisKeys } from '../keys.js';
import { AUDIT_APPEND } from './audit-scripts.js';
import type { RedisClient } from './connect.js';
import { unavailableOnError } from './unavailable.js';

type Entry = [id: string, fields: string[]];

function recordOf([id, fields]: Entry): AuditRecord {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return { id, seq: Number(f.seq), prev: f.prev ?? '', hash: f.hash ?? '', body: f.body ?? '' };
}

/** The trail as a Redis Stream, its head and latest checkpoint beside it (one hash slot). */
export class RedisAuditLog implements AuditLog {
  readonly #append: (...args: (string | number)[]) => Promise<[number, string, string]>;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {
    redis.defineCommand('stsAuditAppend', { lua: AUDIT_APPEND, numberOfKeys: 2 });
    const r = redis as unknown as Record<string, (...a: unknown[]) => Promise<[number, string, string]>>;
    this.#append = r.stsAuditAppend!.bind(redis);
  }

  async append(e: AuditAppend): Promise<Appended> {
    const [seq, hash, prev] = await unavailableOnError(this.#append(this.keys.auditStream(), this.keys.auditHead(), e.body, e.digest, e.maxRecords, e.minTimeMs));
    return { seq: Number(seq), hash, prev };
  }

  async head(): Promise<AuditHead> {
    const [seq, hash] = await unavailableOnError(this.redis.hmget(this.keys.auditHead(), 'seq', 'hash'));
    return { seq: Number(seq ?? 0), hash: hash ?? GENESIS_HASH };
  }

  async forward(range: AuditRange): Promise<AuditRecord[]> {
    const start = range.from ? `(${range.from}` : range.sinceMs !== undefined ? `${range.sinceMs}` : '-';
    const end = range.untilMs !== undefined ? `${range.untilMs}` : '+';
    const entries = (await unavailableOnError(this.redis.xrange(this.keys.auditStream(), start, end, 'COUNT', range.count))) as Entry[];
    return entries.map(recordOf);
  }

  async backward(range: AuditRange): Promise<AuditRecord[]> {
    const end = range.from ? `(${range.from}` : range.untilMs !== undefined ? `${range.untilMs}` : '+';
    const start = range.sinceMs !== undefined ? `${range.sinceMs}` : '-';
    const entries = (await unavailableOnError(this.redis.xrevrange(this.keys.auditStream(), end, start, 'COUNT', range.count))) as Entry[];
    return entries.map(recordOf);
  }

  async checkpoint(): Promise<string | undefined> {
    return (await unavailableOnError(this.redis.get(this.keys.auditCheckpoint()))) ?? undefined;
  }

  async saveCheckpoint(jws: string): Promise<void> {
    await unavailableOnError(this.redis.set(this.keys.auditCheckpoint(), jws));
  }

  async length(): Promise<number> {
    return unavailableOnError(this.redis.xlen(this.keys.auditStream()));
  }
}
