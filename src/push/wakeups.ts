/** How often the waiters' audiences are checked for an append whose wake-up was lost (pub/sub is at most once). */
export const WAKEUP_RECHECK_MS = 5_000;

export interface WakeupsOptions {
  /** Long polls one audience (resource server) may hold waiting at once on this instance. */
  maxPerAudience: number;
  /** The newest entry id of an audience's stream (`SsfStore.head`): one read per audience per recheck. */
  head: (aud: string) => Promise<string>;
  recheckMs?: number;
}

/**
 * Long polls waiting for their audience's stream to grow. Waiting costs nothing per waiter: an append
 * on this instance or any other (`SsfStore.subscribe`) calls `notify(aud)`, and every
 * WAKEUP_RECHECK_MS one read per audience with waiters wakes those whose last read saw an older head.
 */
export class Wakeups {
  readonly #waiting = new Map<string, Set<Waiter>>();
  readonly #o: WakeupsOptions;
  #timer: NodeJS.Timeout | undefined;
  #rechecking = false;

  constructor(o: WakeupsOptions) {
    this.#o = o;
  }

  /** A place among `aud`'s waiters until `leave()`; undefined when it has maxPerAudience already. */
  enter(aud: string): Waiter | undefined {
    let set = this.#waiting.get(aud);
    if ((set?.size ?? 0) >= this.#o.maxPerAudience) return undefined;
    if (!set) this.#waiting.set(aud, (set = new Set()));
    const waiter = new Waiter(() => {
      set.delete(waiter);
      if (set.size === 0 && this.#waiting.get(aud) === set) this.#waiting.delete(aud);
    });
    set.add(waiter);
    return waiter;
  }

  /** Waiters of `aud` now. */
  waiting(aud: string): number {
    return this.#waiting.get(aud)?.size ?? 0;
  }

  notify(aud: string): void {
    for (const w of this.#waiting.get(aud) ?? []) w.wake();
  }

  /** Wakes the waiters whose last read is older than their audience's head. Skipped while the last one runs. */
  async recheck(): Promise<void> {
    if (this.#rechecking) return;
    this.#rechecking = true;
    try {
      await Promise.all([...this.#waiting].map(async ([aud, set]) => {
        const head = await this.#o.head(aud).catch(() => undefined); // a store that cannot answer: the polls' own reads will fail
        if (head === undefined) return;
        for (const w of set) if (w.seen !== undefined && w.seen !== head) w.wake();
      }));
    } finally {
      this.#rechecking = false;
    }
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.recheck(), this.#o.recheckMs ?? WAKEUP_RECHECK_MS).unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** One long poll's place. A wake-up that comes while the poll is reading is kept for its next `next()`. */
export class Waiter {
  /** The head the poll's last read saw (undefined until its first read). */
  seen: string | undefined;
  #pending = false;
  #resolve: (() => void) | undefined;

  constructor(readonly leave: () => void) {}

  saw(head: string): void {
    this.seen = head;
  }

  wake(): void {
    if (this.#resolve) this.#resolve();
    else this.#pending = true;
  }

  /**
   * Resolves true at the next wake-up (at once if one came since the last call), false after `ms`
   * or when `signal` aborts.
   */
  next(ms: number, signal: AbortSignal): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (woken: boolean) => () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', gone);
        this.#resolve = undefined;
        resolve(woken);
      };
      const gone = done(false);
      const timer = setTimeout(done(false), Math.max(ms, 0));
      signal.addEventListener('abort', gone, { once: true });
      this.#resolve = done(true);
    });
  }
}
