import { AGENT_ATTRIBUTES, RESOURCE_SERVER_ATTRIBUTES, shownAttributes } from '../clients/attributes.js';
import type { Credential } from '../clients/credentials.js';
import type { AgentRecord, PendingChange, ResourceServerRecord } from '../clients/records.js';

/** How reads (the admin API, the CLI's JSON) show records: attributes from their tables, credentials as metadata only. */

/** Credentials as a read shows them: metadata only, never a hash or key material beyond the public JWK's id. */
export function credentialView(c: Credential, lastUsedMs: number | undefined) {
  return {
    id: c.id,
    type: c.type,
    created: c.created,
    expires: c.type === 'secret' ? (c.expires ?? null) : null,
    lastUsed: lastUsedMs === undefined ? null : new Date(lastUsedMs).toISOString(),
  };
}

/** A change applied but not yet complete (see RegistryService): which, and since when. */
const pendingView = (p: PendingChange | undefined) => (p ? { op: p.op, since: new Date(p.sinceMs).toISOString() } : null);

const meta = (r: AgentRecord | ResourceServerRecord, lastUsed: Record<string, number>) => ({
  pending: pendingView(r.pending), created: r.created, updated: r.updated, updatedBy: r.updatedBy, source: r.source,
  credentials: r.credentials.map((c) => credentialView(c, lastUsed[c.id])),
});

export function agentView(r: AgentRecord, lastUsed: Record<string, number> = {}) {
  return { id: r.id, ...(shownAttributes(AGENT_ATTRIBUTES, r) as Omit<AgentRecord, 'id' | 'disabled'>), disabled: r.disabled, ...meta(r, lastUsed) };
}

export function resourceServerView(r: ResourceServerRecord, lastUsed: Record<string, number> = {}) {
  return { id: r.id, ...(shownAttributes(RESOURCE_SERVER_ATTRIBUTES, r) as Omit<ResourceServerRecord, 'id'>), ...meta(r, lastUsed) };
}

/** A record's view for a list: credentials without their last use (that needs one read per record). */
export function listView<V extends { credentials: { lastUsed?: unknown }[] }>(view: V): V {
  return { ...view, credentials: view.credentials.map(({ lastUsed: _l, ...c }) => c) };
}
