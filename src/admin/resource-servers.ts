import { Router } from 'express';
import type { JWK } from 'jose';
import { z } from 'zod';
import { credentialView, isDeleted, type ResourceServerRecord, type Stored } from '../clients/records.js';
import { resourceServerSchema } from '../clients/registry-file.js';
import type { SessionService } from '../sessions/service.js';
import {
  checkNewKeys, conflict, firstSecret, listView, liveRecords, mergePatch, newKeyCredential, notFound, parseBody, readRecord, updateRecord,
  type RegistryAdmin,
} from './registry-common.js';
import { registryKit } from './registry-kit.js';
import { mountCredentialRoutes } from './credential-routes.js';
import { jsonOrEmpty, only, parseJson, type AdminRequest, type ContextOf } from './http-kit.js';

const createBody = resourceServerSchema.omit({ secretHash: true });
const patchBody = z.strictObject({ scopes: z.unknown().optional() });
const editableSchema = resourceServerSchema.pick({ scopes: true }).strict();

export function resourceServerView(r: ResourceServerRecord, lastUsed: Record<string, number> = {}) {
  return {
    id: r.id, scopes: r.scopes, created: r.created, updated: r.updated, updatedBy: r.updatedBy, source: r.source,
    credentials: r.credentials.map((c) => credentialView(c, lastUsed[c.id])),
  };
}

/**
 * The same CRUD as agents under /admin/resource-servers (`:id` URL-encoded). A resource server
 * has no sessions of its own: deleting one stops its introspection at once on this instance and
 * within the announcement's delay elsewhere.
 */
export function resourceServersRouter(sessions: SessionService, contextOf: ContextOf, reg: RegistryAdmin): Router {
  const r = Router();
  const { read, manage, now, record, idOf, writable } = registryKit(sessions, contextOf, reg, 'resourceServer', 'resource server');

  r.route('/resource-servers')
    .get(read, async (_req, res) => {
      const servers = await liveRecords<ResourceServerRecord>(reg.store, 'resourceServer');
      res.json({ resourceServers: servers.map((s) => listView(resourceServerView(s))) });
    })
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const body = parseBody(createBody, req.body);
      writable(body.id);
      await checkNewKeys(body.jwks as { keys: JWK[] } | undefined);
      const nowMs = now();
      const iso = new Date(nowMs).toISOString();
      const first = body.jwks ? undefined : firstSecret(nowMs);
      const rec: ResourceServerRecord = {
        id: body.id, scopes: body.scopes,
        credentials: first ? [first.credential] : await Promise.all((body.jwks!.keys as JWK[]).map((k) => newKeyCredential(k, iso))),
        created: iso, updated: iso, updatedBy: req.admin!.agent, source: 'api',
      };
      const existing = await reg.store.get('resourceServer', body.id);
      const json = JSON.stringify(rec);
      const stored = existing === undefined ? await reg.store.add('resourceServer', body.id, json)
        : isDeleted(JSON.parse(existing) as Stored<ResourceServerRecord>) && (await reg.store.replace('resourceServer', body.id, existing, json));
      if (!stored) throw conflict(`resource server "${body.id}" exists`);
      await reg.live.refresh('resourceServer', body.id);
      await record(req, { type: 'resource_server.created', resourceServer: body.id, by: req.admin!.agent });
      res.status(201).json({ ...resourceServerView(rec), ...(first ? { client_secret: first.secret } : {}) });
    })
    .all(only('GET, HEAD, POST'));

  r.route('/resource-servers/:id')
    .get(read, async (req, res) => {
      const found = await readRecord<ResourceServerRecord>(reg.store, 'resourceServer', idOf(req));
      if (!found) throw notFound('resource server');
      res.json(resourceServerView(found.record, await reg.store.lastUsed('resourceServer', idOf(req))));
    })
    .patch(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = idOf(req);
      writable(id);
      const patch = parseBody(patchBody, req.body);
      const { next } = await updateRecord<ResourceServerRecord, null>(reg, 'resourceServer', id, 'resource server', (cur) => {
        const merged = parseBody(editableSchema, mergePatch({ scopes: cur.scopes }, patch));
        return { next: { ...cur, scopes: merged.scopes, updated: new Date(now()).toISOString(), updatedBy: req.admin!.agent }, extra: null };
      });
      await record(req, { type: 'resource_server.updated', resourceServer: id, by: req.admin!.agent, fields: Object.keys(patch) });
      res.json(resourceServerView(next));
    })
    .delete(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = idOf(req);
      writable(id);
      if (!(await readRecord(reg.store, 'resourceServer', id))) throw notFound('resource server');
      await reg.store.put('resourceServer', id, JSON.stringify({ id, deleted: new Date(now()).toISOString(), deletedBy: req.admin!.agent }));
      await reg.live.refresh('resourceServer', id);
      await record(req, { type: 'resource_server.deleted', resourceServer: id, by: req.admin!.agent });
      res.json({ deleted: true });
    })
    .all(only('GET, HEAD, PATCH, DELETE'));

  mountCredentialRoutes(r, {
    kind: 'resourceServer', path: '/resource-servers', what: 'resource server',
    event: (change, id, fields) => ({ type: `resource_server.${change}`, resourceServer: id, ...fields }),
  }, { reg, manage, now, record, writable });

  return r;
}
