/** The service's clock: one object the wiring file builds and passes down (tests pass a fake one). */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
