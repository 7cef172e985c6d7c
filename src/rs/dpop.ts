/**
 * The DPoP (RFC 9449) check a resource server runs on every request. This version verifies no
 * proofs: a bearer token without `cnf.jkt` passes, and anything DPoP (the `DPoP` scheme, or a token
 * bound to a key) is refused, so a bound token is never accepted on the bearer rules.
 */
export type DpopOutcome = { ok: true } | { ok: false; error: 'invalid_token' | 'invalid_dpop_proof'; description: string };

export interface DpopCheck {
  /** The Authorization scheme the request used (case-insensitive in the header). */
  scheme: 'bearer' | 'dpop';
  /** The single DPoP header value; undefined when absent (more than one: the caller refuses first). */
  proof: string | undefined;
  /** The request's HTTP method. */
  method: string;
  /** The absolute request URL as this resource server sees it. */
  url: string;
  accessToken: string;
  /** The token's cnf.jkt, from introspection or the verified JWT. */
  jkt: string | undefined;
}

export interface DpopReplayCache {
  useOnce(key: string, expiresAtMs: number): Promise<boolean>;
}

export interface DpopVerifier {
  check(c: DpopCheck): Promise<DpopOutcome>;
}

const UNSUPPORTED: DpopOutcome = { ok: false, error: 'invalid_token', description: 'DPoP-bound tokens are not supported by this version' };
const OK: DpopOutcome = { ok: true };

export function dpopVerifier(_opts: { replay?: DpopReplayCache; nowMs?: () => number } = {}): DpopVerifier {
  return {
    async check(c) {
      return c.scheme === 'bearer' && c.jkt === undefined ? OK : UNSUPPORTED;
    },
  };
}

const DEFAULT_REPLAY_ENTRIES = 10_000;

/** A bounded in-process replay cache: each key is accepted once until it expires; the oldest go first when full. */
export function memoryReplayCache(maxEntries = DEFAULT_REPLAY_ENTRIES): DpopReplayCache {
  const seen = new Map<string, number>();
  return {
    async useOnce(key, expiresAtMs) {
      const now = Date.now();
      const until = seen.get(key);
      if (until !== undefined && until > now) return false;
      seen.delete(key);
      while (seen.size >= maxEntries) seen.delete(seen.keys().next().value as string);
      seen.set(key, expiresAtMs);
      return true;
    },
  };
}
