/**
 * Usage counters for the access review: how often, and when last, an agent was issued or had
 * introspected a token for a target and scope. Aggregated in process and flushed in batches, so
 * introspection never writes per request. Kept per UTC day, for `retentionDays`.
 */
export type UsageKind = 'issued' | 'introspected';

export interface UsageRow {
  kind: UsageKind;
  /** issued: the agent whose token was exchanged ('' for a root token); introspected: the resource server. */
  via: string;
  agent: string;
  target: string;
  scope: string;
  count: number;
  lastMs: number;
}

export interface UsageStore {
  /** Adds the counts and raises each row's last time, for one UTC day (`YYYY-MM-DD`). */
  add(day: string, rows: UsageRow[], retentionDays: number): Promise<void>;
  /** Rows of those days (one row per day and key; the caller sums). */
  read(days: string[]): Promise<UsageRow[]>;
  /** Drops every row naming the agent (as `agent` or as `via`) in the last `retentionDays` days up to `nowMs`: a deleted agent's usage. */
  forget(agent: string, retentionDays: number, nowMs: number): Promise<void>;
}

/** Whether a row names the agent: its own usage, or tokens exchanged from its own. */
export const namesAgent = (r: Pick<UsageRow, 'kind' | 'via' | 'agent'>, agent: string): boolean => r.agent === agent || (r.kind === 'issued' && r.via === agent);

const MS_PER_DAY = 86_400_000;

/** The UTC days a retention of `retentionDays` keeps, up to `nowMs` (today first). */
export const retainedDays = (retentionDays: number, nowMs: number): string[] =>
  Array.from({ length: retentionDays + 1 }, (_, i) => dayOf(nowMs - i * MS_PER_DAY));

export const usageField = (r: Pick<UsageRow, 'kind' | 'via' | 'agent' | 'target' | 'scope'>): string =>
  JSON.stringify([r.kind, r.via, r.agent, r.target, r.scope]);

export function fromField(field: string, count: number, lastMs: number): UsageRow {
  const [kind, via, agent, target, scope] = JSON.parse(field) as [UsageKind, string, string, string, string];
  return { kind, via, agent, target, scope, count, lastMs };
}

export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
