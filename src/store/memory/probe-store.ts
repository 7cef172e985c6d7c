import type { ProbeStore, ProbeSummary, ProbeTarget } from '../probes.js';

/** The embedded twin: nothing kept on exit. */
export class MemoryProbeStore implements ProbeStore {
  readonly #last = new Map<string, ProbeSummary>();
  readonly #targets = new Map<string, ProbeTarget>();
  readonly #leases = new Map<string, number>();

  async put(resourceServer: string, summary: ProbeSummary): Promise<void> {
    this.#last.set(resourceServer, structuredClone(summary));
  }

  async all(): Promise<Map<string, ProbeSummary>> {
    return new Map([...this.#last].map(([id, s]) => [id, structuredClone(s)]));
  }

  async setTarget(resourceServer: string, target: ProbeTarget | undefined): Promise<void> {
    if (target) this.#targets.set(resourceServer, structuredClone(target));
    else this.#targets.delete(resourceServer);
  }

  async targets(): Promise<Map<string, ProbeTarget>> {
    return new Map([...this.#targets].map(([id, t]) => [id, structuredClone(t)]));
  }

  async claim(resourceServer: string, _holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
    if ((this.#leases.get(resourceServer) ?? 0) > nowMs) return false;
    this.#leases.set(resourceServer, nowMs + ttlMs);
    return true;
  }
}
