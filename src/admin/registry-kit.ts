import { auditUnavailable, envelope, type RegistryEvent } from '../audit/events.js';
import type { SessionService } from '../sessions/service.js';
import type { RegistryKind } from '../store/registry.js';
import { conflict, type RegistryAdmin } from './registry-common.js';
import { adminContextOf, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';

/** What the agents and resource-servers routers set up alike: scopes, the clock, events, file-managed ids. */
export function registryKit(sessions: SessionService, contextOf: ContextOf, reg: RegistryAdmin, kind: RegistryKind, what: string) {
  const adminContext = adminContextOf(contextOf);
  const now = () => sessions.now();
  const fileIds = kind === 'agent' ? reg.fileIds.agents : reg.fileIds.resourceServers;
  return {
    read: requireScope(sessions, 'agents:read'),
    manage: requireScope(sessions, 'agents:manage'),
    adminContext,
    now,
    /** A registry change, durable before the answer, with the admin and its session. */
    record: (req: AdminRequest, e: RegistryEvent) =>
      reg.events.record({ ...e, ...envelope(adminContext(req), now(), req.admin!.agent) }).catch(auditUnavailable),
    idOf: (req: AdminRequest) => String(req.params.id),
    /** STS_REGISTRY_MODE=file: ids the file names are read-only through the API. */
    writable: (id: string) => {
      if (reg.mode === 'file' && fileIds.has(id)) throw conflict(`${what} "${id}" is managed by the registry file (STS_REGISTRY_MODE=file): change the file`);
    },
  };
}
