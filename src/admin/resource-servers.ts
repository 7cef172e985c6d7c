import type { Router } from 'express';
import type { ResourceServerRecord } from '../clients/records.js';
import type { RegistryService } from '../registry/service.js';
import { listView, resourceServerView } from '../registry/views.js';
import type { SessionService } from '../sessions/service.js';
import { mountCredentialRoutes } from './agents.js';
import { actorOf, jsonOrEmpty, jsonOrMergePatch, only, parseJson, privateRouter, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';

/**
 * /admin/resource-servers (`:id` URL-encoded): the same CRUD as agents, through the RegistryService.
 * A resource server has no sessions of its own: deleting one stops its introspection at once on
 * this instance and within the announcement's delay elsewhere.
 */
export function resourceServersRouter(sessions: SessionService, contextOf: ContextOf, registry: RegistryService): Router {
  const r = privateRouter();
  const read = requireScope(sessions, 'agents:read');
  const manage = requireScope(sessions, 'agents:manage');
  const actor = actorOf(contextOf);
  const idOf = (req: AdminRequest) => String(req.params.id);

  r.route('/resource-servers')
    .get(read, async (_req, res) => {
      res.json({ resourceServers: (await registry.list<ResourceServerRecord>('resourceServer')).map((s) => listView(resourceServerView(s))) });
    })
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const { record, secret } = await registry.createResourceServer(actor(req), req.body);
      res.status(201).json({ ...resourceServerView(record), ...(secret ? { client_secret: secret } : {}) });
    })
    .all(only('GET, HEAD, POST'));

  r.route('/resource-servers/:id')
    .get(read, async (req, res) => {
      const { record, lastUsed } = await registry.read<ResourceServerRecord>('resourceServer', idOf(req));
      res.json(resourceServerView(record, lastUsed));
    })
    .patch(manage, jsonOrMergePatch, parseJson, async (req: AdminRequest, res) => {
      res.json(resourceServerView(await registry.updateResourceServer(actor(req), idOf(req), req.body)));
    })
    .delete(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      await registry.deleteResourceServer(actor(req), idOf(req));
      res.json({ deleted: true });
    })
    .all(only('GET, HEAD, PATCH, DELETE'));

  mountCredentialRoutes(r, '/resource-servers', 'resourceServer', registry, manage, actor);
  return r;
}
