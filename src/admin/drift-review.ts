import type { Agent } from '../clients/types.js';
import { ADMIN_AUDIENCE } from '../clients/types.js';
import type { RecordSource } from '../clients/records.js';
import { PROBE_AGENT_PREFIX, PROBE_OWNER } from '../probe/agents.js';

/**
 * The access review's drift against the directory (SCIM): not_in_directory (a provisioned agent
 * the IdP has not read or changed for too long, or an agent made by hand through the admin API
 * beside a SCIM-managed estate) and owner_missing (an owner naming an agent, `agent:<id>`, that
 * the registry no longer holds). Pure: the route gathers the inputs.
 */

export type DriftFindingKind = 'not_in_directory' | 'owner_missing';

export interface DriftFinding {
  kind: DriftFindingKind;
  detail: string;
}

/** Where an agent's record came from and when it was (re-)created (ms). */
export interface Provenance {
  source: RecordSource;
  createdMs: number;
}

export interface DriftEstate {
  /** Every agent's provenance, by id (the live registry's records). */
  provenance: ReadonlyMap<string, Provenance>;
  /** When the IdP last read or changed each provisioned agent (ms). */
  lastSeen: ReadonlyMap<string, number>;
  nowMs: number;
  unseenDays: number;
}

/** An owner naming an agent of this registry, e.g. an orchestrator accountable for its workers. */
export const AGENT_OWNER_PREFIX = 'agent:';
const PROVISIONING_SCOPE = 'scim:provision';
const MS_PER_DAY = 86_400_000;

const iso = (ms: number) => new Date(ms).toISOString();
const isProbe = (a: Agent) => a.id.startsWith(PROBE_AGENT_PREFIX) && a.owner === PROBE_OWNER;
/** The provisioning client cannot be provisioned by the IdP it serves. */
const isProvisioner = (a: Agent) => a.audiences[ADMIN_AUDIENCE]?.includes(PROVISIONING_SCOPE) === true;

/** Whether any agent was provisioned by SCIM: then the IdP is the source of truth for agents. */
export const scimManaged = (e: DriftEstate): boolean => [...e.provenance.values()].some((p) => p.source === 'scim');

export function driftFindings(agent: Agent, e: DriftEstate, managed = scimManaged(e)): DriftFinding[] {
  const findings: DriftFinding[] = [];
  const p = e.provenance.get(agent.id);
  if (p?.source === 'scim') {
    // created counts as seen: the IdP posted it
    const seenMs = Math.max(e.lastSeen.get(agent.id) ?? 0, p.createdMs);
    if (e.nowMs - seenMs > e.unseenDays * MS_PER_DAY) {
      findings.push({ kind: 'not_in_directory', detail: `provisioned by SCIM, last seen by the IdP ${iso(seenMs)}, more than ${e.unseenDays} days ago` });
    }
  } else if (p?.source === 'api' && managed && !agent.disabled && !isProbe(agent) && !isProvisioner(agent)) {
    findings.push({ kind: 'not_in_directory', detail: 'created through the admin API beside agents provisioned by SCIM: the IdP does not know it' });
  }
  const owner = agent.owner ?? '';
  if (owner.startsWith(AGENT_OWNER_PREFIX)) {
    const ownerId = owner.slice(AGENT_OWNER_PREFIX.length);
    if (!e.provenance.has(ownerId)) findings.push({ kind: 'owner_missing', detail: `the owner ${owner} names an agent the registry does not hold` });
  }
  return findings;
}
