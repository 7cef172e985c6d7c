/**
 * Long-polls waiting on an audience's stream in this process, woken the moment this process appends
 * to it. A SET appended by another instance is seen at the waiter's next recheck (see poll.ts).
 */
export class Wakeups {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Resolves on `notify(aud)`, after `ms`, or when `signal` aborts, whichever comes first. */
  wait(aud: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.#waiting.get(aud);
      if (!set) this.#waiting.set(aud, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.#waiting.get(aud) === set) this.#waiting.delete(aud);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  notify(aud: string): void {
    for (const wake of [...(this.#waiting.get(aud) ?? [])]) wake();
  }
}
