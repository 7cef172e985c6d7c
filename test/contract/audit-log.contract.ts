import { describe, expect, it } from '@jest/globals';
import { verifyTrail } from '../../src/audit/verify.js';
import { AUDIT_TRIM_EVERY, GENESIS_HASH, linkHash, sha256Hex, type AuditAppend, type AuditLog } from '../../src/store/audit.js';

export interface OpenedAuditLog {
  log: AuditLog;
  close(): Promise<void>;
}

export const entry = (n: number, extra: Partial<AuditAppend> = {}): AuditAppend => {
  const body = JSON.stringify({ type: 'token.issued', n });
  return { body, digest: sha256Hex(body), maxRecords: 0, minTimeMs: 0, ...extra };
};

/** What every AuditLog (memory and Redis) must do: the chain, the ranges, retention, checkpoints. */
export function auditLogContract(name: string, open: () => Promise<OpenedAuditLog>): void {
  describe(`AuditLog contract: ${name}`, () => {
    const withLog = (fn: (log: AuditLog) => Promise<void>) => async () => {
      const o = await open();
      try {
        await fn(o.log);
      } finally {
        await o.close();
      }
    };

    it('an empty trail has head {0, genesis}, no records, and verifies', withLog(async (log) => {
      expect(await log.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(await log.forward({ count: 10 })).toEqual([]);
      expect(await verifyTrail(log)).toEqual({ ok: true, checked: 0, head: { seq: 0, hash: GENESIS_HASH }, brokenAt: null, from: null });
    }));

    it('numbers records from 1 and links each to the one before with SHA-256 (recomputed here with node:crypto)', withLog(async (log) => {
      const a = await log.append(entry(1));
      const b = await log.append(entry(2));
      expect(a).toEqual({ seq: 1, prev: GENESIS_HASH, hash: linkHash(1, GENESIS_HASH, entry(1).digest) });
      expect(b).toEqual({ seq: 2, prev: a.hash, hash: linkHash(2, a.hash, entry(2).digest) });
      expect(await log.head()).toEqual({ seq: 2, hash: b.hash });
      const records = await log.forward({ count: 10 });
      expect(records.map((r) => [r.seq, r.prev, r.hash, r.body])).toEqual([[1, GENESIS_HASH, a.hash, entry(1).body], [2, a.hash, b.hash, entry(2).body]]);
      expect((await log.backward({ count: 10 })).map((r) => r.seq)).toEqual([2, 1]);
    }));

    it('concurrent appends never interleave: seqs are contiguous and the chain verifies', withLog(async (log) => {
      await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(entry(i))));
      const records = await log.forward({ count: 1_000 });
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await verifyTrail(log)).toMatchObject({ ok: true, checked: 200, brokenAt: null, head: { seq: 200 } });
    }));

    it('pages by an exclusive cursor, both ways, and by time', withLog(async (log) => {
      for (let i = 1; i <= 5; i++) await log.append(entry(i));
      const all = await log.forward({ count: 10 });
      expect((await log.forward({ from: all[1]!.id, count: 2 })).map((r) => r.seq)).toEqual([3, 4]);
      expect((await log.backward({ from: all[3]!.id, count: 2 })).map((r) => r.seq)).toEqual([3, 2]);
      const t = Number(all[0]!.id.split('-')[0]);
      expect((await log.forward({ sinceMs: t + 3_600_000, count: 10 }))).toEqual([]);
      expect((await log.backward({ untilMs: t - 1, count: 10 }))).toEqual([]);
      expect((await log.backward({ sinceMs: t, count: 10 })).length).toBe(5);
    }));

    it('trims by length yet still verifies: the first kept record links to the last trimmed one', withLog(async (log) => {
      const heads = [];
      for (let i = 0; i < 450; i++) heads.push(await log.append(entry(i, { maxRecords: 10 })));
      const kept = await log.length();
      expect(kept).toBeGreaterThanOrEqual(10);
      expect(kept).toBeLessThan(450);
      const result = await verifyTrail(log);
      expect(result).toMatchObject({ ok: true, checked: kept, head: { seq: 450 }, brokenAt: null });
      expect(result.from!.prev).toBe(heads[result.from!.seq - 2]!.hash);
    }));

    it('trims by age, with every AUDIT_TRIM_EVERY-th record: records older than minTimeMs go, and what is kept verifies', withLog(async (log) => {
      const expireAll = { minTimeMs: Date.now() + 60_000 };
      const last = 3 * AUDIT_TRIM_EVERY;
      for (let seq = 1; seq < last; seq++) await log.append(entry(seq, seq === last - 1 ? expireAll : {}));
      expect(await log.length()).toBe(last - 1);
      await log.append(entry(last, expireAll));
      expect(await log.length()).toBeLessThan(AUDIT_TRIM_EVERY);
      expect(await verifyTrail(log)).toMatchObject({ ok: true, head: { seq: last }, brokenAt: null });
    }));

    it('keeps the latest checkpoint', withLog(async (log) => {
      expect(await log.checkpoint()).toBeUndefined();
      await log.saveCheckpoint('a.b.c');
      await log.saveCheckpoint('d.e.f');
      expect(await log.checkpoint()).toBe('d.e.f');
    }));
  });
}
