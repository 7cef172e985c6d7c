/**
 * When the IdP last saw each SCIM-provisioned agent (read or changed it through /scim/v2), for the
 * access review's not_in_directory. Written at most once per agent per interval, whatever the
 * number of instances or reads: a sync cycle of n agents costs at most n small writes an interval.
 * One entry per agent id the router found provisioned, so bounded by the registry; entries of
 * deleted agents are dropped by `forget` (the access review does it).
 */
export interface ScimSeenStore {
  /** Records `nowMs` as the agent's last sighting unless one within `intervalMs` is kept; true when it wrote. */
  see(agentId: string, nowMs: number, intervalMs: number): Promise<boolean>;
  /** Every agent's last sighting (ms). */
  all(): Promise<Map<string, number>>;
  /** Drops the sightings of these agents. */
  forget(agentIds: readonly string[]): Promise<void>;
}
