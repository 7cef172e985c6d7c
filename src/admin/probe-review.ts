import type { ProbeSummary } from '../store/probes.js';

/**
 * The access review's view of each resource server: its last enforcement probe (verdict, age) and
 * what follows: never probed or probed too long ago (unprobed_resource_server), or not enforcing
 * when last probed (resource_server_not_enforcing). Pure: the route gathers the inputs.
 */

const MS_PER_SECOND = 1_000;
const SECONDS_PER_DAY = 86_400;

export interface ResourceServerFinding {
  kind: 'unprobed_resource_server' | 'resource_server_not_enforcing';
  detail: string;
}

export interface ResourceServerReview {
  resourceServer: string;
  /** The last probe, with its age in seconds (from when agent-sts recorded it); null: never probed. */
  lastProbe: (ProbeSummary & { ageSeconds: number }) | null;
  findings: ResourceServerFinding[];
}

export function resourceServerReviews(ids: readonly string[], probes: ReadonlyMap<string, ProbeSummary>, nowMs: number, maxAgeDays: number): ResourceServerReview[] {
  return [...ids].sort().map((id) => {
    const last = probes.get(id);
    if (!last) return { resourceServer: id, lastProbe: null, findings: [{ kind: 'unprobed_resource_server', detail: 'never probed: run agent-sts probe' }] };
    const ageSeconds = Math.max(0, Math.floor((nowMs - Date.parse(last.recorded)) / MS_PER_SECOND));
    const findings: ResourceServerFinding[] = [];
    if (ageSeconds > maxAgeDays * SECONDS_PER_DAY) {
      findings.push({ kind: 'unprobed_resource_server', detail: `last probed ${last.recorded}, more than ${maxAgeDays} days ago` });
    }
    if (last.verdict !== 'enforcing') {
      findings.push({ kind: 'resource_server_not_enforcing', detail: `last probe (${last.recorded}) of ${last.target}: ${last.verdict}${last.failed.length ? `, failed ${last.failed.join(' ')}` : ''}` });
    }
    return { resourceServer: id, lastProbe: { ...last, ageSeconds }, findings };
  });
}
