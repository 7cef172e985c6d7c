import type { ScimSeenStore } from '../scim-seen.js';

/** The embedded twin: nothing kept on exit. */
export class MemoryScimSeenStore implements ScimSeenStore {
  readonly #seen = new Map<string, number>();

  async see(agentId: string, nowMs: number, intervalMs: number): Promise<boolean> {
    const last = this.#seen.get(agentId);
    if (last !== undefined && last > nowMs - intervalMs) return false;
    this.#seen.set(agentId, nowMs);
    return true;
  }

  async all(): Promise<Map<string, number>> {
    return new Map(this.#seen);
  }

  async forget(agentIds: readonly string[]): Promise<void> {
    for (const id of agentIds) this.#seen.delete(id);
  }
}
