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

/** What the server's scheduled probe calls for one resource server (the admin API checks it before it is kept). */
export interface ProbeTarget {
  url: string;
  scope?: string;
  dpop: boolean;
  /** When it was registered (ISO 8601) and by which admin agent. */
  registered: string;
  by: string;
}

export interface ProbeStore {
  /** Keeps `summary` as the resource server's last probe. */
  put(resourceServer: string, summary: ProbeSummary): Promise<void>;
  /** Every resource server's last probe. */
  all(): Promise<Map<string, ProbeSummary>>;
  /** Keeps (or, undefined, forgets) the resource server's probe target; one per resource server. */
  setTarget(resourceServer: string, target: ProbeTarget | undefined): Promise<void>;
  /** Every registered probe target. */
  targets(): Promise<Map<string, ProbeTarget>>;
  /**
   * Takes the right to probe the resource server for `ttlMs` unless another holder has it (it is
   * not given back: it says the resource server was probed this interval, on whichever instance).
   */
  claim(resourceServer: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean>;
}
