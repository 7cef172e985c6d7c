/**
 * The last enforcement probe of each resource server (its full record is in the audit trail), for
 * the access review and the console. One entry per resource server id the admin API accepted a
 * probe for: the route writes only for a registered resource server, so the entries are bounded
 * by the registry.
 */
export interface ProbeSummary {
  verdict: string;
  /** When the probe finished (ISO 8601, the prober's clock). */
  at: string;
  /** When agent-sts recorded it (ISO 8601, the service clock): the age the review judges. */
  recorded: string;
  target: string;
  killLatencyMs: number | null;
  /** The cases that failed. */
  failed: string[];
  /** The admin agent that posted it. */
  by: string;
}

export interface ProbeStore {
  /** Keeps `summary` as the resource server's last probe. */
  put(resourceServer: string, summary: ProbeSummary): Promise<void>;
  /** Every resource server's last probe. */
  all(): Promise<Map<string, ProbeSummary>>;
}
