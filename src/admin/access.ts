import type { Request, Response, Router } from 'express';
import { accessReview, reviewsCsv, type AccessReview, type CredentialView, type ReviewWindow } from './access-review.js';
import type { UsageAggregator } from '../audit/usage.js';
import type { Agent, Registry } from '../clients/types.js';
import { OAuthError } from '../errors.js';
import type { SessionService } from '../sessions/service.js';
import { dayOf, namesAgent, type UsageStore } from '../store/usage.js';
import type { ProbeStore } from '../store/probes.js';
import { integerParam, only, privateRouter, requireScope } from './http-kit.js';
import { resourceServerReviews, type ResourceServerReview } from './probe-review.js';
import { driftFindings, scimManaged, type DriftEstate, type Provenance } from './drift-review.js';
import type { ScimSeenStore } from '../store/scim-seen.js';

const DEFAULT_DAYS = 30;
const MAX_DAYS = 3_650;
/** Live sessions read per agent: the review says when an agent holds more. */
const HELD_LIMIT = 1_000;
const MS_PER_DAY = 86_400_000;

export interface AccessDeps {
  sessions: SessionService;
  registry: Registry;
  usageStore: UsageStore;
  /** This process's counts not yet flushed: flushed before a review is read. */
  usage?: UsageAggregator;
  retentionDays: number;
  staleCredentialDays: number;
  /** Credentials' age and last use; absent: the registry keeps no credential metadata (a fixed file). */
  credentialsOf?(agentId: string): Promise<CredentialView[]>;
  /** When the agent was (re-)created (ms): usage last seen before then was an earlier agent's of the same id. */
  createdOf?(agentId: string): Promise<number | undefined>;
  /** Each resource server's last enforcement probe; absent: the review says nothing of resource servers. */
  probes?: ProbeStore;
  probeMaxAgeDays: number;
  /** Drift against the IdP (SCIM): absent with a fixed registry, which SCIM cannot provision. */
  drift?: {
    provenance(): Promise<Map<string, Provenance>>;
    seen: ScimSeenStore;
    unseenDays: number;
  };
}

const daysParam = (req: Request) => integerParam(req, 'days', { min: 1, max: MAX_DAYS, fallback: DEFAULT_DAYS });

function windowOf(days: number, nowMs: number, retentionDays: number): { window: ReviewWindow; dayKeys: string[] } {
  const coveredDays = Math.min(days, retentionDays);
  const dayKeys: string[] = [];
  // today and the `coveredDays - 1` days before it (UTC)
  for (let i = 0; i < coveredDays; i++) dayKeys.push(dayOf(nowMs - i * MS_PER_DAY));
  const complete = days <= retentionDays;
  return {
    dayKeys,
    window: {
      days, since: new Date(nowMs - days * MS_PER_DAY).toISOString(), until: new Date(nowMs).toISOString(), complete, coveredDays,
      ...(complete ? {} : { note: `usage is kept for ${retentionDays} days (STS_USAGE_RETENTION_DAYS): counts cover only the last ${coveredDays} days of the ${days} asked for` }),
    },
  };
}

/** GET /admin/agents/:id/access and /admin/access-review (JSON, or CSV for Accept: text/csv): scope agents:read. */
export function accessRouter(d: AccessDeps): Router {
  const r = privateRouter();
  const read = requireScope(d.sessions, 'agents:read');

  /** `whole`: the review of every agent, which also drops the sightings of deleted agents. */
  async function review(agents: Agent[], all: Agent[], days: number, whole = false): Promise<AccessReview[]> {
    await d.usage?.flush();
    const nowMs = d.sessions.now();
    const { window, dayKeys } = windowOf(days, nowMs, d.retentionDays);
    const usage = await d.usageStore.read(dayKeys);
    const drift = await estate(nowMs, whole);
    const managed = drift ? scimManaged(drift) : false;
    const out: AccessReview[] = [];
    for (const agent of agents) {
      const sessions = await d.sessions.list({ agent: agent.id }, HELD_LIMIT);
      const credentials = d.credentialsOf ? await d.credentialsOf(agent.id) : [];
      // the estate read every agent's record already: one more read per agent only without it
      const createdMs = drift?.provenance.get(agent.id)?.createdMs ?? (await d.createdOf?.(agent.id)) ?? 0;
      const own = createdMs ? usage.filter((u) => !namesAgent(u, agent.id) || u.lastMs >= createdMs) : usage;
      const rev = accessReview({ agent, all, sessions, usage: own, window, nowMs, staleCredentialDays: d.staleCredentialDays, credentials });
      if (drift) rev.findings.push(...driftFindings(agent, drift, managed));
      out.push(sessions.length === HELD_LIMIT ? { ...rev, window: { ...rev.window, note: `${rev.window.note ?? ''} held lists the first ${HELD_LIMIT} live sessions only`.trim() } } : rev);
    }
    return out;
  }

  /** The estate's provenance and sightings; `prune`: first drop the sightings of agents the registry no longer holds. */
  async function estate(nowMs: number, prune: boolean): Promise<DriftEstate | undefined> {
    if (!d.drift) return undefined;
    const provenance = await d.drift.provenance();
    const lastSeen = await d.drift.seen.all();
    const gone = prune ? [...lastSeen.keys()].filter((id) => !provenance.has(id)) : [];
    if (gone.length) await d.drift.seen.forget(gone);
    return { provenance, lastSeen, nowMs, unseenDays: d.drift.unseenDays };
  }

  const allAgents = async () => (d.registry.agents ? d.registry.agents() : []);
  const servers = async (): Promise<ResourceServerReview[]> => {
    if (!d.probes || !d.registry.resourceServers) return [];
    return resourceServerReviews(d.registry.resourceServers().map((s) => s.id), await d.probes.all(), d.sessions.now(), d.probeMaxAgeDays);
  };

  r.route('/agents/:id/access')
    .get(read, async (req: Request, res: Response) => {
      const days = daysParam(req);
      const agent = await d.registry.agent(String(req.params.id));
      if (!agent) throw new OAuthError(404, 'not_found', 'no such agent');
      const [one] = await review([agent], await allAgents(), days);
      res.json(one);
    })
    .all(only('GET, HEAD'));

  r.route('/access-review')
    .get(read, async (req: Request, res: Response) => {
      const days = daysParam(req);
      const all = await allAgents();
      const reviews = await review(all, all, days, true);
      const resourceServers = await servers();
      if (req.accepts(['application/json', 'text/csv']) === 'text/csv') res.type('text/csv; charset=utf-8').send(reviewsCsv(reviews, resourceServers));
      else res.json({ window: reviews[0]?.window ?? windowOf(days, d.sessions.now(), d.retentionDays).window, agents: reviews, resourceServers });
    })
    .all(only('GET, HEAD'));

  return r;
}
