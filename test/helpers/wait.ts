/** Waits `ms` of real time: only where the real time is the point (an expiry Redis keeps by its own clock). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Patience {
  /** How long to keep asking (default 5 s). */
  withinMs?: number;
  /** The pause between two asks (default 20 ms). */
  everyMs?: number;
}

/**
 * Asks `probe` until `done` holds of its answer or `withinMs` has passed, for what happens in the
 * background; returns the last answer, which the caller asserts (so a timeout fails as a plain
 * assertion on the value).
 */
export async function eventually<T>(probe: () => T | PromiseLike<T>, done: (v: T) => boolean, o: Patience = {}): Promise<T> {
  const deadline = Date.now() + (o.withinMs ?? 5_000);
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() > deadline) return v;
    await sleep(o.everyMs ?? 20);
  }
}

/** Waits until `cond` holds (asked every 10 ms); throws naming `what` once `withinMs` has passed. */
export async function until(cond: () => boolean | PromiseLike<boolean>, what: string, withinMs = 5_000): Promise<void> {
  if (!(await eventually(cond, Boolean, { withinMs, everyMs: 10 }))) throw new Error(`timed out waiting until ${what}`);
}
