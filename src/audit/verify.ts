import { linkHash, sha256Hex, type AuditHead, type AuditLog } from '../store/audit.js';
import type { Checkpoint } from './checkpoint.js';

/** Records read per step: memory stays constant however long the trail. */
export const VERIFY_PAGE = 1_000;

export type CheckpointStatus = 'matched' | 'mismatch' | 'trimmed' | 'missing' | 'unchecked';

export interface VerifyResult {
  ok: boolean;
  checked: number;
  head: AuditHead;
  /** The first seq found wrong (edited, missing, or beyond a truncated tail), else null. */
  brokenAt: number | null;
  /** The first kept record and the hash it links to: where verification starts after trimming. */
  from: { seq: number; prev: string } | null;
  /**
   * With a checkpoint: whether the trail still contains it ('trimmed': older than the kept records;
   * 'unchecked': the chain is broken before its seq, so the walk never reached it).
   */
  checkpoint?: { seq: number; status: CheckpointStatus };
}

/**
 * Walks the trail oldest first, one page at a time: every record's hash must be its link
 * (recomputed with node:crypto from its seq, prev and body), every seq one more than the last,
 * every prev the last record's hash, and the last record the stored head. A checkpoint (signed
 * earlier, kept by the verifier) must be contained: its seq present with its hash, so a truncated
 * tail or a re-chained history is caught. Records appended after the walk began are not checked.
 */
export async function verifyTrail(trail: AuditLog, checkpoint?: Checkpoint): Promise<VerifyResult> {
  const head = await trail.head();
  let checked = 0;
  let last: AuditHead | undefined;
  let from: VerifyResult['from'] = null;
  let brokenAt: number | null = null;
  let cursor: string | undefined;
  let cpStatus: CheckpointStatus | undefined = checkpoint ? 'missing' : undefined;
  walk: for (;;) {
    const page = await trail.forward({ ...(cursor ? { from: cursor } : {}), count: VERIFY_PAGE });
    for (const r of page) {
      if (r.seq > head.seq) break walk;
      if (!last) {
        from = { seq: r.seq, prev: r.prev };
        if (checkpoint && checkpoint.seq < r.seq) cpStatus = 'trimmed';
      } else if (r.seq !== last.seq + 1) {
        brokenAt = last.seq + 1;
        break walk;
      } else if (r.prev !== last.hash) {
        brokenAt = r.seq;
        break walk;
      }
      if (!Number.isSafeInteger(r.seq) || r.hash !== linkHash(r.seq, r.prev, sha256Hex(r.body))) {
        brokenAt = r.seq;
        break walk;
      }
      if (checkpoint && r.seq === checkpoint.seq) {
        cpStatus = r.hash === checkpoint.hash ? 'matched' : 'mismatch';
        if (cpStatus === 'mismatch') {
          brokenAt = r.seq;
          break walk;
        }
      }
      checked++;
      last = { seq: r.seq, hash: r.hash };
    }
    if (page.length < VERIFY_PAGE) break;
    cursor = page[page.length - 1]!.id;
  }
  if (brokenAt === null && last && (last.seq !== head.seq || last.hash !== head.hash)) brokenAt = last.seq + 1;
  // Broken at or before the checkpoint's seq: whether it is there is unknown, not 'missing'.
  if (brokenAt !== null && checkpoint && cpStatus === 'missing' && checkpoint.seq >= brokenAt) cpStatus = 'unchecked';
  if (brokenAt === null && checkpoint && cpStatus === 'missing') {
    // The walk covered every seq from the first kept record to the head, so the checkpoint is
    // beyond the head (a truncated tail), before every kept record, or the empty trail.
    if (checkpoint.seq > head.seq) brokenAt = head.seq + 1;
    else cpStatus = checkpoint.seq === 0 ? 'matched' : 'trimmed';
  }
  return { ok: brokenAt === null, checked, head, brokenAt, from, ...(checkpoint ? { checkpoint: { seq: checkpoint.seq, status: cpStatus! } } : {}) };
}
