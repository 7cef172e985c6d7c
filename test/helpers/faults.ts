import { StoreUnavailableError } from '../../src/errors.js';

/** When a fault fires: every call, or only calls whose arguments match, for a number of times. */
export interface FaultRule {
  /** Only calls for which this holds (e.g. an audit append of one record type). */
  when?: (args: unknown[]) => boolean;
  /** How many matching calls fail before the fault heals itself (default: until healed). */
  times?: number;
}

/**
 * Switchable store outages at exact cut points: `wrap('registry', store)` puts a store behind the
 * switchboard, `fail('registry.replace')` makes that method reject as a store outage (503), as a
 * frozen or unwritable Redis would, until `heal()`. Calls to methods with no fault pass through to
 * the real store, which keeps its own private state (methods run on the real object).
 */
export class Faults {
  readonly #rules = new Map<string, FaultRule & { left: number }>();
  /** Every fault that fired, in order: a test can assert that its cut point was reached. */
  readonly fired: string[] = [];

  fail(point: string, rule: FaultRule = {}): this {
    this.#rules.set(point, { ...rule, left: rule.times ?? Infinity });
    return this;
  }

  heal(point?: string): void {
    if (point) this.#rules.delete(point);
    else this.#rules.clear();
  }

  /** A recording of an audit append of `type` (the trail's canonical body names it). */
  static recordOf(type: string): FaultRule['when'] {
    return (args) => typeof (args[0] as { body?: unknown })?.body === 'string' && (args[0] as { body: string }).body.includes(`"type":"${type}"`);
  }

  wrap<T extends object>(name: string, target: T): T {
    return new Proxy(target, {
      get: (t, prop) => {
        const value = Reflect.get(t, prop, t) as unknown;
        if (typeof value !== 'function') return value;
        const point = `${name}.${String(prop)}`;
        return (...args: unknown[]) => {
          const rule = this.#rules.get(point);
          if (rule && rule.left > 0 && (!rule.when || rule.when(args))) {
            rule.left--;
            this.fired.push(point);
            return Promise.reject(new StoreUnavailableError(new Error(`fault injected at ${point}`)));
          }
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  }
}
