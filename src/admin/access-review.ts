import type { Agent } from '../clients/types.js';
import type { Session } from '../store/index.js';
import type { UsageRow } from '../store/usage.js';
import type { DriftFindingKind } from './drift-review.js';
import type { ResourceServerReview } from './probe-review.js';

/**
 * The live access review of one agent: what it may reach (registry), what it holds now (live
 * sessions), what it used in the window (usage counts), and what follows (findings). Pure: the
 * route gathers the inputs.
 */

export type FindingKind = 'unused_entitlement' | 'stale_credential' | 'no_owner' | 'unused_delegate' | 'disabled_but_holding' | DriftFindingKind;

export interface Finding {
  kind: FindingKind;
  detail: string;
}

/** One credential as the review sees it: when it was made and last used (ISO), if known. */
export interface CredentialView {
  kind: string;
  created: string | null;
  lastUsed: string | null;
}

export interface ReviewWindow {
  days: number;
  since: string;
  until: string;
  /** false when the window reaches further back than usage is kept: counts then cover only `coveredDays`. */
  complete: boolean;
  coveredDays: number;
  note?: string;
}

export interface ReviewInput {
  agent: Agent;
  /** Every agent of the registry: who lists this one as a delegate. */
  all: Agent[];
  /** Live sessions the agent holds or acts in. */
  sessions: Session[];
  /** Usage rows of the window (any agent; summed here). */
  usage: UsageRow[];
  window: ReviewWindow;
  nowMs: number;
  staleCredentialDays: number;
  /** The agent's credentials (the live registry's records); empty when the registry keeps none. */
  credentials: CredentialView[];
}

const iso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : null);
const MS_PER_DAY = 86_400_000;

export function accessReview(input: ReviewInput) {
  const { agent, all, sessions, usage, window, nowMs } = input;
  const id = agent.id;

  const held = new Map<string, { target: string; scope: string; sessions: number; delegated: number }>();
  for (const s of sessions) {
    if (s.agent !== id) continue;
    for (const scope of s.scope) {
      const k = JSON.stringify([s.aud, scope]);
      const h = held.get(k) ?? { target: s.aud, scope, sessions: 0, delegated: 0 };
      if (s.parent) h.delegated++;
      else h.sessions++;
      held.set(k, h);
    }
  }

  const use = new Map<string, { target: string; scope: string; issued: number; lastIssuedMs: number; introspected: number; lastIntrospectedMs: number }>();
  const delegationUsed = new Set<string>();
  for (const r of usage) {
    if (r.agent !== id) continue;
    const k = JSON.stringify([r.target, r.scope]);
    const u = use.get(k) ?? { target: r.target, scope: r.scope, issued: 0, lastIssuedMs: 0, introspected: 0, lastIntrospectedMs: 0 };
    if (r.kind === 'issued') {
      u.issued += r.count;
      u.lastIssuedMs = Math.max(u.lastIssuedMs, r.lastMs);
      if (r.via) delegationUsed.add(`for:${r.via}`);
    } else {
      u.introspected += r.count;
      u.lastIntrospectedMs = Math.max(u.lastIntrospectedMs, r.lastMs);
    }
    use.set(k, u);
  }
  for (const r of usage) if (r.kind === 'issued' && r.via === id) delegationUsed.add(`by:${r.agent}`);

  const entitlements = agent.audiences;
  const unused: { target: string; scope: string }[] = [];
  for (const [target, scopes] of Object.entries(entitlements)) {
    for (const scope of scopes) if (!(use.get(JSON.stringify([target, scope]))?.issued)) unused.push({ target, scope });
  }

  const delegates = agent.delegates.map((d) => ({ agent: d, used: delegationUsed.has(`by:${d}`) }));
  const actsFor = all.filter((a) => a.delegates.includes(id)).map((a) => ({ agent: a.id, used: delegationUsed.has(`for:${a.id}`) }));
  const { credentials } = input;

  const findings: Finding[] = [];
  for (const u of unused) findings.push({ kind: 'unused_entitlement', detail: `${u.scope} at ${u.target}: no issuance in ${window.coveredDays} days` });
  for (const c of credentials) {
    const created = c.created ? Date.parse(c.created) : NaN;
    if (Number.isFinite(created) && nowMs - created > input.staleCredentialDays * MS_PER_DAY) {
      findings.push({ kind: 'stale_credential', detail: `${c.kind} created ${c.created}, older than ${input.staleCredentialDays} days` });
    }
  }
  if (!agent.owner) findings.push({ kind: 'no_owner', detail: 'the registry names no owner for this agent' });
  for (const d of delegates) if (!d.used) findings.push({ kind: 'unused_delegate', detail: `${d.agent} may act for this agent but did not in ${window.coveredDays} days` });
  const holding = [...held.values()].reduce((n, h) => n + h.sessions + h.delegated, 0);
  if (agent.disabled && holding > 0) findings.push({ kind: 'disabled_but_holding', detail: `disabled, yet ${holding} live session-scopes are held` });

  return {
    agent: id,
    owner: agent.owner ?? null,
    disabled: agent.disabled,
    window,
    entitlements,
    held: [...held.values()],
    usage: [...use.values()].map((u) => ({
      target: u.target, scope: u.scope, issued: u.issued, lastIssued: iso(u.lastIssuedMs), introspected: u.introspected, lastIntrospected: iso(u.lastIntrospectedMs),
    })),
    unused,
    delegation: { delegates, actsFor },
    credentials,
    findings,
  };
}

export type AccessReview = ReturnType<typeof accessReview>;

const CSV_COLUMNS = ['agent', 'owner', 'disabled', 'kind', 'target', 'scope', 'detail'] as const;

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  // a leading = + - @ would run as a formula in a spreadsheet: quote it away
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/**
 * The reviews as CSV, one line per thing to look at: each entitlement (used or not, with its
 * counts), each held target/scope, each finding; then each resource server's last probe and its findings.
 */
export function reviewsCsv(reviews: AccessReview[], servers: readonly ResourceServerReview[] = []): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of reviews) {
    const row = (kind: string, target: string, scope: string, detail: string) =>
      lines.push([r.agent, r.owner, r.disabled, kind, target, scope, detail].map(csvCell).join(','));
    for (const [target, scopes] of Object.entries(r.entitlements)) {
      for (const scope of scopes) {
        const u = r.usage.find((x) => x.target === target && x.scope === scope);
        row('entitlement', target, scope, u ? `issued ${u.issued} (last ${u.lastIssued ?? '-'}), introspected ${u.introspected} (last ${u.lastIntrospected ?? '-'})` : 'unused');
      }
    }
    for (const h of r.held) row('held', h.target, h.scope, `${h.sessions} root, ${h.delegated} delegated`);
    for (const f of r.findings) row(f.kind, '', '', f.detail);
  }
  for (const s of servers) {
    const row = (kind: string, detail: string) => lines.push(['', '', '', kind, s.resourceServer, '', detail].map(csvCell).join(','));
    const p = s.lastProbe;
    row('resource_server', p ? `last probe ${p.verdict} at ${p.recorded} (${p.ageSeconds} s ago) of ${p.target}, kill latency ${p.killLatencyMs ?? '-'} ms` : 'never probed');
    for (const f of s.findings) row(f.kind, f.detail);
  }
  return `${lines.join('\r\n')}\r\n`;
}
