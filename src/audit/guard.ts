import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { AuditAppend } from '../store/audit.js';
import { boundFields } from './bounds.js';
import { isoTime, type BestEffortEvent, type DurableEvent, type EventSink } from './events.js';

/** A caller that never authenticated is counted for this long after its first refusal, then written once. */
export const DENIAL_WINDOW_MS = 60_000;
/** Distinct callers counted one by one at a time; past it, refusals share one overflow record per window. */
export const DENIAL_WINDOW_MAX_KEYS = 1_000;
/** Distinct (endpoint, client id, reason) one address (an IPv6 /64) may have counted one by one at a time. */
export const DENIAL_WINDOW_MAX_KEYS_PER_ADDRESS = 10;
/** How often the timer closes the windows whose time has come. */
export const DENIAL_FLUSH_TICK_MS = 1_000;

type Denied = Extract<BestEffortEvent, { type: 'token.denied' }>;

interface Window {
  openedMs: number;
  /** `key`: one caller; `address`: one address's refusals past its cap; `all`: past the global cap. */
  kind: 'key' | 'address' | 'all';
  group: string;
  /** Refusals after the first (which was written when the window opened). */
  count: number;
  firstMs: number;
  lastMs: number;
  last?: Denied;
}

export interface TrailGuardLimits {
  windowMs: number;
  maxKeys: number;
  maxKeysPerAddress: number;
}

const DEFAULT_LIMITS: TrailGuardLimits = { windowMs: DENIAL_WINDOW_MS, maxKeys: DENIAL_WINDOW_MAX_KEYS, maxKeysPerAddress: DENIAL_WINDOW_MAX_KEYS_PER_ADDRESS };
/** Overflow windows' keys: no caller's key starts with a control character (endpoint names come first). */
const ALL = '\u0001';

/** An IPv6 address's /64 (one subscriber usually holds a whole /64); any other address as it is. */
export function addressGroup(address: string): string {
  const bare = address.split('%')[0]!;
  if (!isIPv6(bare) || /^::ffff:\d/i.test(bare)) return address;
  const [head = '', tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const rightGroups = right.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - rightGroups).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/**
 * What reaches the trail (or the log, with the trail off) from callers passes here: the sink the
 * wiring file puts in front of the trail's. Every record but `token.issued` (built by the session
 * service from registry-bounded values, on the hot path) has its strings bounded (bounds.ts).
 * Refusals of callers that never authenticated (`actor` null) are counted per (endpoint, address,
 * client id tried, reason): the first of a window is written at once, the others as one record with
 * a `count` when the window closes (on the next refusal or the timer's tick), so a flood writes a
 * bounded number of records instead of evicting real history. At most maxKeys callers are counted
 * one by one, and at most maxKeysPerAddress per address; past either, the refusal shares an overflow
 * window (its first refusal is written at once too). So a window writes at most
 * 2 × maxKeys + 2 records of unauthenticated refusals, whatever the traffic.
 * Authenticated refusals (an agent's escalation attempts) are written one by one, bounded.
 */
export class TrailGuard implements EventSink {
  readonly #windows = new Map<string, Window>();
  readonly #perGroup = new Map<string, number>();
  readonly #limits: TrailGuardLimits;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly inner: EventSink, private readonly nowMs: () => number, limits: Partial<TrailGuardLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  prepare(event: DurableEvent): AuditAppend | undefined {
    return this.inner.prepare?.(event);
  }

  record(event: DurableEvent, prepared?: AuditAppend): Promise<void> {
    return this.inner.record(event.type === 'token.issued' ? event : boundFields(event), prepared);
  }

  emit(event: BestEffortEvent): void {
    const bounded = boundFields(event);
    if (bounded.type === 'token.denied' && bounded.actor === null) this.#note(bounded);
    else this.inner.emit(bounded);
  }

  /** How many windows are open (memory is bounded by maxKeys plus the overflow windows). */
  get open(): number {
    return this.#windows.size;
  }

  #note(e: Denied): void {
    const now = this.nowMs();
    this.flushDue(now);
    const key = `${e.endpoint}\n${e.address ?? ''}\n${e.clientId ?? ''}\n${e.reason}`;
    const counting = this.#windows.get(key);
    if (counting) return this.#count(counting, e, now);
    const group = addressGroup(e.address ?? '');
    const held = this.#perGroup.get(group) ?? 0;
    const full = this.#windows.size >= this.#limits.maxKeys;
    if (!full && held < this.#limits.maxKeysPerAddress) {
      this.#perGroup.set(group, held + 1);
      return this.#open(key, 'key', group, e, now);
    }
    const byAddress = this.#windows.get(`\u0000${group}`);
    if (held >= this.#limits.maxKeysPerAddress && byAddress) return this.#count(byAddress, e, now);
    if (!full) return this.#open(`\u0000${group}`, 'address', group, e, now);
    const all = this.#windows.get(ALL);
    if (all) return this.#count(all, e, now);
    this.#open(ALL, 'all', '', e, now);
  }

  #open(key: string, kind: Window['kind'], group: string, e: Denied, now: number): void {
    this.#windows.set(key, { openedMs: now, kind, group, count: 0, firstMs: now, lastMs: now });
    this.inner.emit(e);
  }

  #count(w: Window, e: Denied, now: number): void {
    if (w.count === 0) w.firstMs = now;
    w.count++;
    w.lastMs = now;
    w.last = e;
  }

  /**
   * Closes the windows opened DENIAL_WINDOW_MS ago or more (all of them with `all`), writing one
   * record for each that counted anything. Windows are kept in the order they opened, so this stops
   * at the first still open; one opened "later" than now (the clock stepped back) is closed too.
   */
  flushDue(now: number = this.nowMs(), all = false): void {
    for (const [key, w] of this.#windows) {
      if (!all && now >= w.openedMs && now < w.openedMs + this.#limits.windowMs) break;
      this.#windows.delete(key);
      if (w.kind === 'key') {
        const held = this.#perGroup.get(w.group)! - 1;
        if (held > 0) this.#perGroup.set(w.group, held);
        else this.#perGroup.delete(w.group);
      }
      if (w.count > 0) this.inner.emit(this.#summary(w, now));
    }
  }

  #summary(w: Window, now: number): BestEffortEvent {
    const last = w.last!;
    const span = { count: w.count, firstTime: isoTime(w.firstMs), lastTime: isoTime(w.lastMs) };
    if (w.kind === 'key') return { ...last, time: isoTime(now), ...span };
    return {
      type: 'token.denied_overflow', time: isoTime(now), requestId: last.requestId, actor: null, ...span,
      ...(w.kind === 'address' && w.group !== '' ? { address: w.group } : {}),
    };
  }

  /** Closes due windows every DENIAL_FLUSH_TICK_MS; the timer never keeps the process alive. */
  start(log: Logger, tickMs: number = DENIAL_FLUSH_TICK_MS): void {
    this.stop();
    this.#timer = setInterval(() => {
      try {
        this.flushDue();
      } catch (err) {
        log.error({ err }, 'closing refusal windows failed');
      }
    }, tickMs).unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** On shutdown: what was counted is written now rather than lost. */
  close(): void {
    this.stop();
    this.flushDue(this.nowMs(), true);
  }
}
