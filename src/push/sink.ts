import type { EventSink } from '../audit/events.js';
import type { KeyStore } from '../keys/keystore.js';
import type { SsfStore } from '../store/ssf.js';
import { setsForKill, type SignedSet } from './set.js';
import type { Wakeups } from './wakeups.js';

export interface SsfSinkOptions {
  store: SsfStore;
  keys: KeyStore;
  issuer: string;
  retentionMs: number;
  nowMs: () => number;
  wakeups: Wakeups;
  /** Called once the SETs are durable (push delivery and metrics hang here). */
  appended?: (sets: SignedSet[]) => void;
}

/**
 * Turns every kill event into CAEP session-revoked SETs and appends them to each audience's stream.
 * A `record`, so the kill's answer waits for it: when the admin sees 200, every resource server
 * can read the kill; a stream that cannot be written fails the kill's answer closed (503).
 */
export function ssfSink(o: SsfSinkOptions): EventSink {
  return {
    async record(event) {
      const nowMs = o.nowMs();
      const sets = setsForKill(event, o.keys, o.issuer, nowMs);
      if (sets.length === 0) return;
      const byAud = new Map<string, SignedSet[]>();
      for (const s of sets) byAud.set(s.aud, [...(byAud.get(s.aud) ?? []), s]);
      await Promise.all([...byAud].map(([aud, list]) => o.store.append(aud, list, nowMs, o.retentionMs)));
      for (const aud of byAud.keys()) o.wakeups.notify(aud);
      o.appended?.(sets);
    },
    emit() {},
  };
}
