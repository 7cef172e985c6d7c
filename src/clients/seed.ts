import type { Logger } from 'pino';
import type { SessionStore } from '../store/index.js';
import type { RegistryKind, RegistryStore } from '../store/registry.js';
import { inWindows } from '../store/windows.js';
import { agentRecordOfFile, isDeleted, serverRecordOfFile, type Stored } from './records.js';
import type { ParsedRegistryDocument } from './registry-file.js';

/**
 * `store` (default): the file seeds the store; ids the store already has (or had, and deleted
 * through the API) are left alone, so the API's changes win. `file`: the file stays authoritative
 * for its ids (GitOps): they are written from the file at every boot, and the admin API refuses
 * to change them (409); ids the file does not name can still be managed through the API.
 */
export type RegistryMode = 'store' | 'file';

export interface SeedReport {
  imported: string[];
  skipped: string[];
  /** file mode: file-managed entries rewritten from the file. */
  overwritten: string[];
}

/**
 * Entries written at once while seeding: one after another, 11,000 entries took ~4 s to boot
 * (bench/registry-growth.mjs); each entry's writes are independent of the others'.
 */
const SEED_WINDOW = 64;

/** `disabled`: a skipped entry's stored record is a disabled agent. */
type Outcome = { bucket: keyof SeedReport; label: string; disabled?: boolean };

/**
 * Applies the registry file to the store at boot, and logs which entries were imported and which
 * skipped. A file agent marked `disabled` gets its status key too, so the create refuses it.
 */
export async function seedRegistry(
  store: RegistryStore, sessions: SessionStore, doc: ParsedRegistryDocument, mode: RegistryMode, log: Logger, nowMs: number,
): Promise<SeedReport> {
  const now = new Date(nowMs).toISOString();
  const apply = async (kind: RegistryKind, id: string, record: object): Promise<Outcome> => {
    const label = `${kind === 'agent' ? 'agent' : 'resource server'} ${id}`;
    const json = JSON.stringify(record);
    if (mode === 'file') {
      const existing = await store.get(kind, id);
      if (existing !== undefined && sameDefinition(existing, record)) return { bucket: 'skipped', label };
      await store.put(kind, id, json);
      return { bucket: existing === undefined ? 'imported' : 'overwritten', label };
    }
    if (await store.add(kind, id, json)) return { bucket: 'imported', label };
    const stored = JSON.parse((await store.get(kind, id)) ?? '{}') as Stored<{ disabled?: boolean }>;
    if (isDeleted(stored)) return { bucket: 'skipped', label: `${label} (deleted through the API)` };
    return { bucket: 'skipped', label, disabled: stored.disabled === true };
  };
  const outcomes = [
    ...(await inWindows(doc.agents, SEED_WINDOW, async (a) => {
      const outcome = await apply('agent', a.id, agentRecordOfFile(a, now));
      if (outcome.bucket !== 'skipped' || mode === 'file') await sessions.setAgentDisabled(a.id, a.disabled);
      // a boot that stored a disabled agent and died before its mark: this one sets the mark
      else if (outcome.disabled) await sessions.setAgentDisabled(a.id, true);
      return outcome;
    })),
    ...(await inWindows(doc.resourceServers, SEED_WINDOW, (r) => apply('resourceServer', r.id, serverRecordOfFile(r, now)))),
  ];
  // in the file's order, whatever order the writes finished in
  const report: SeedReport = { imported: [], skipped: [], overwritten: [] };
  for (const o of outcomes) report[o.bucket].push(o.label);
  log.info(report, `registry seeded from the file (STS_REGISTRY_MODE=${mode}): ${report.imported.length} imported, ${report.skipped.length} skipped`);
  return report;
}

/** Equal but for the times: a reboot with an unchanged file rewrites nothing. */
function sameDefinition(storedJson: string, record: object): boolean {
  const TIMES = new Set(['created', 'updated']);
  const strip = (r: Record<string, unknown>) => JSON.stringify(r, (k, v: unknown) => (TIMES.has(k) ? undefined : v));
  return strip(JSON.parse(storedJson) as Record<string, unknown>) === strip(record as Record<string, unknown>);
}
