import type { Logger } from 'pino';
import type { SessionStore } from '../store/index.js';
import type { RegistryKind, RegistryStore } from '../store/registry.js';
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
 * Applies the registry file to the store at boot, and logs which entries were imported and which
 * skipped. A file agent marked `disabled` gets its status key too, so the create refuses it.
 */
export async function seedRegistry(
  store: RegistryStore, sessions: SessionStore, doc: ParsedRegistryDocument, mode: RegistryMode, log: Logger, nowMs: number,
): Promise<SeedReport> {
  const now = new Date(nowMs).toISOString();
  const report: SeedReport = { imported: [], skipped: [], overwritten: [] };
  const apply = async (kind: RegistryKind, id: string, record: object) => {
    const label = `${kind === 'agent' ? 'agent' : 'resource server'} ${id}`;
    const json = JSON.stringify(record);
    if (mode === 'file') {
      const existing = await store.get(kind, id);
      if (existing === undefined || !sameDefinition(existing, record)) {
        await store.put(kind, id, json);
        (existing === undefined ? report.imported : report.overwritten).push(label);
      } else report.skipped.push(label);
      return true;
    }
    if (await store.add(kind, id, json)) {
      report.imported.push(label);
      return true;
    }
    const stored = JSON.parse((await store.get(kind, id)) ?? '{}') as Stored<object>;
    report.skipped.push(isDeleted(stored) ? `${label} (deleted through the API)` : label);
    return false;
  };
  for (const a of doc.agents) {
    const written = await apply('agent', a.id, agentRecordOfFile(a, now));
    if (written) await sessions.setAgentDisabled(a.id, a.disabled);
  }
  for (const r of doc.resourceServers) await apply('resourceServer', r.id, serverRecordOfFile(r, now));
  log.info(report, `registry seeded from the file (STS_REGISTRY_MODE=${mode}): ${report.imported.length} imported, ${report.skipped.length} skipped`);
  return report;
}

/** Equal but for the times: a reboot with an unchanged file rewrites nothing. */
function sameDefinition(storedJson: string, record: object): boolean {
  const TIMES = new Set(['created', 'updated']);
  const strip = (r: Record<string, unknown>) => JSON.stringify(r, (k, v: unknown) => (TIMES.has(k) ? undefined : v));
  return strip(JSON.parse(storedJson) as Record<string, unknown>) === strip(record as Record<string, unknown>);
}
