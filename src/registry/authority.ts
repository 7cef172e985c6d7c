import { credentialLive } from '../clients/credentials.js';
import { isDeleted, type AgentRecord, type Stored } from '../clients/records.js';
import { ADMIN_AUDIENCE } from '../clients/types.js';

/**
 * Who may change what in the registry, beyond holding agents:manage. Pure rules over records: the
 * registry service applies them, inside the same version-guarded write as the change.
 */

/** The scope that manages the registry: the last agent able to use it stays. */
export const MANAGE = 'agents:manage';

/** The admin-audience scopes an agent is entitled to. */
export const adminScopesOf = (a: Pick<AgentRecord, 'audiences'>): string[] =>
  Object.hasOwn(a.audiences, ADMIN_AUDIENCE) ? [...a.audiences[ADMIN_AUDIENCE]!] : [];

/**
 * The admin scopes an acting admin must hold for a change (Keycloak lets an admin assign only the
 * admin roles it holds; Vault keeps a child token's policies within its parent's):
 * - giving an agent admin scopes (a create, a patch adding them): those scopes;
 * - re-enabling an agent, or handing out a credential of one (a new secret, an added key): every
 *   admin scope it holds, since whoever holds the credential acts with them;
 * - adding a delegate to an agent holding admin scopes: every one of them (the delegate may then
 *   act on that agent's admin tokens).
 */
export function authorityNeeded(change:
  | { op: 'create'; after: Pick<AgentRecord, 'audiences'> }
  | { op: 'update'; before: Pick<AgentRecord, 'audiences' | 'delegates'>; after: Pick<AgentRecord, 'audiences' | 'delegates'> }
  | { op: 'enable' | 'credential'; record: Pick<AgentRecord, 'audiences'> }): string[] {
  if (change.op === 'create') return adminScopesOf(change.after);
  if (change.op !== 'update') return adminScopesOf(change.record);
  const after = adminScopesOf(change.after);
  const had = new Set(adminScopesOf(change.before));
  const newDelegate = change.after.delegates.some((d) => !change.before.delegates.includes(d));
  return newDelegate ? after : after.filter((s) => !had.has(s));
}

export { missingScopes } from 'agent-sts-gate/protocol';

/**
 * Whether an agent can manage the registry right now: not deleted, enabled, not being disabled or
 * deleted, entitled to agents:manage, and holding a credential that still authenticates.
 */
export function canManageNow(a: Stored<AgentRecord>, nowMs: number): boolean {
  if (isDeleted(a) || a.disabled) return false;
  if (a.pending && (a.pending.op === 'disable' || a.pending.op === 'delete')) return false;
  return adminScopesOf(a).includes(MANAGE) && a.credentials.some((c) => credentialLive(c, nowMs));
}

/**
 * Whether changing `id` from `before` to `after` (undefined: deleted) would leave nobody able to
 * manage the registry: `before` could and `after` cannot, and no other agent of `all` can.
 */
export function locksEveryoneOut(
  id: string, before: Stored<AgentRecord>, after: Stored<AgentRecord> | undefined, all: Iterable<[string, Stored<AgentRecord>]>, nowMs: number,
): boolean {
  if (!canManageNow(before, nowMs) || (after && canManageNow(after, nowMs))) return false;
  for (const [other, a] of all) if (other !== id && canManageNow(a, nowMs)) return false;
  return true;
}
