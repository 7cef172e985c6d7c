import type { ProbeStore, ProbeSummary } from '../probes.js';

/** The embedded twin: nothing kept on exit. */
export class MemoryProbeStore implements ProbeStore {
  readonly #last = new Map<string, ProbeSummary>();

  async put(resourceServer: string, summary: ProbeSummary): Promise<void> {
    this.#last.set(resourceServer, structuredClone(summary));
  }

  async all(): Promise<Map<string, ProbeSummary>> {
    return new Map([...this.#last].map(([id, s]) => [id, structuredClone(s)]));
  }
}
