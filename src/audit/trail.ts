import type { Logger } from 'pino';
import { canonicalJson, sha256Hex, type Appended, type AuditAppend, type AuditLog } from '../store/audit.js';
import type { BestEffortEvent, EventSink, StsEvent } from './events.js';

/** How long and how much of the trail is kept (see config: STS_AUDIT_MAX_RECORDS, STS_AUDIT_MAX_AGE_DAYS). */
export interface Retention {
  /** 0: no length limit. */
  maxRecords: number;
  /** 0: no age limit. */
  maxAgeMs: number;
}

/** An event as the trail stores it: its canonical body, digest and the retention to apply now. */
export function appendOf(event: StsEvent, retention: Retention, nowMs: number): AuditAppend {
  const body = canonicalJson(event);
  return {
    body,
    digest: sha256Hex(body),
    maxRecords: retention.maxRecords,
    minTimeMs: retention.maxAgeMs > 0 ? Math.max(nowMs - retention.maxAgeMs, 1) : 0,
  };
}

export interface TrailSinkOptions {
  retention: Retention;
  nowMs: () => number;
  /** After every admin change is recorded: sign a checkpoint. Its failure is logged, never thrown. */
  afterAdminChange?: () => Promise<unknown>;
}

/**
 * The event sink that writes the audit trail. `record` resolves once the record is in the trail
 * (appended here, or already by the session create: see EventSink.prepare); a failed append rejects, and
 * the request fails closed. Each record is also logged as one pino JSON line (`audit`), with its
 * seq and hashes, for shipping to a SIEM. Denials (`emit`) are appended too, without waiting.
 */
export function trailSink(trail: AuditLog, log: Logger, opts: TrailSinkOptions): EventSink {
  const line = (event: StsEvent, at: Appended) => {
    if (log.isLevelEnabled('info')) log.info({ audit: { seq: at.seq, hash: at.hash, prev: at.prev, ...event } }, event.type);
  };
  return {
    prepare: (event) => appendOf(event, opts.retention, opts.nowMs()),
    async record(event, prepared) {
      const p = prepared ?? appendOf(event, opts.retention, opts.nowMs());
      const at = p.appended ?? (await trail.append(p));
      line(event, at);
      // a kill's request record changes nothing yet: its outcome record signs the checkpoint
      if (event.adminSid && opts.afterAdminChange && event.type !== 'revocation.requested') {
        await opts.afterAdminChange().catch((err: unknown) => log.error({ err, requestId: event.requestId }, 'audit checkpoint failed after an admin change'));
      }
    },
    emit(event: BestEffortEvent) {
      trail.append(appendOf(event, opts.retention, opts.nowMs())).then(
        (at) => line(event, at),
        (err: unknown) => log.error({ err, event }, 'audit trail append failed for a best-effort event'),
      );
    },
  };
}
