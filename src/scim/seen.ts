import type { ScimSeenStore } from '../store/scim-seen.js';

/** How often an agent's sighting is written at most: a sync cycle of n agents costs at most n writes an hour. */
export const SEEN_WRITE_INTERVAL_MS = 3_600_000;
/** Sightings remembered in process beyond this many are pruned of those older than the interval. */
const REMEMBERED_MAX = 10_000;

/**
 * Records that the IdP read or changed a provisioned agent. Within the interval a repeat costs
 * nothing (remembered in process); past it, the store writes only if no instance wrote within it.
 */
export class SeenRecorder {
  readonly #written = new Map<string, number>();

  constructor(private readonly store: ScimSeenStore, private readonly nowMs: () => number) {}

  async saw(agentId: string): Promise<void> {
    const now = this.nowMs();
    const last = this.#written.get(agentId);
    if (last !== undefined && last > now - SEEN_WRITE_INTERVAL_MS && last <= now) return;
    await this.store.see(agentId, now, SEEN_WRITE_INTERVAL_MS);
    if (this.#written.size >= REMEMBERED_MAX) this.#prune(now);
    this.#written.set(agentId, now);
  }

  /** The agent was deleted: nothing of it is remembered here (the store's entry goes with the review's prune). */
  forget(agentId: string): void {
    this.#written.delete(agentId);
  }

  #prune(now: number): void {
    for (const [id, at] of this.#written) if (at <= now - SEEN_WRITE_INTERVAL_MS || at > now) this.#written.delete(id);
    // every sighting is recent: forget the oldest, costing at most one more store call each
    for (const id of this.#written.keys()) {
      if (this.#written.size < REMEMBERED_MAX) break;
      this.#written.delete(id);
    }
  }
}
