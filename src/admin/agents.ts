import type { Router } from 'express';
import type { AgentRecord } from '../clients/records.js';
import { rotationBody } from '../clients/credentials.js';
import type { RegistryService } from '../registry/service.js';
import { agentView, listView } from '../registry/views.js';
import type { RegistryStore } from '../store/registry.js';
import type { CredentialView } from './access-review.js';
import type { Provenance } from './drift-review.js';
import { actorOf, jsonOrEmpty, jsonOrMergePatch, only, parseBody, parseJson, privateRouter, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';
import type { SessionService } from '../sessions/service.js';

/**
 * /admin/agents: the registry's agents through the RegistryService. The router only translates
 * HTTP (scopes, ids, status codes); every rule and every step of a change lives in the service.
 */
export function agentsRouter(sessions: SessionService, contextOf: ContextOf, registry: RegistryService): Router {
  const r = privateRouter();
  const read = requireScope(sessions, 'agents:read');
  const manage = requireScope(sessions, 'agents:manage');
  const actor = actorOf(contextOf);
  const idOf = (req: AdminRequest) => String(req.params.id);

  r.route('/agents')
    .get(read, async (_req, res) => {
      res.json({ agents: (await registry.list<AgentRecord>('agent')).map((a) => listView(agentView(a))) });
    })
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const { record, secret } = await registry.createAgent(actor(req), req.body);
      res.status(201).json({ ...agentView(record), ...(secret ? { client_secret: secret } : {}) });
    })
    .all(only('GET, HEAD, POST'));

  r.route('/agents/:id')
    .get(read, async (req, res) => {
      const { record, lastUsed } = await registry.read<AgentRecord>('agent', idOf(req));
      res.json(agentView(record, lastUsed));
    })
    .patch(manage, jsonOrMergePatch, parseJson, async (req: AdminRequest, res) => {
      const { record, revoked } = await registry.updateAgent(actor(req), idOf(req), req.body);
      res.json({ ...agentView(record), revoked });
    })
    .delete(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const { revoked } = await registry.deleteAgent(actor(req), idOf(req));
      res.json({ deleted: true, revoked });
    })
    .all(only('GET, HEAD, PATCH, DELETE'));

  r.route('/agents/:id/disable')
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const { revoked } = await registry.disableAgent(actor(req), idOf(req));
      res.json({ disabled: true, revoked });
    })
    .all(only('POST'));

  r.route('/agents/:id/enable')
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      await registry.enableAgent(actor(req), idOf(req));
      res.json({ disabled: false });
    })
    .all(only('POST'));

  mountCredentialRoutes(r, '/agents', 'agent', registry, manage, actor);
  return r;
}

/** POST {path}/:id/credentials (a new secret or an added key) and DELETE {path}/:id/credentials/:credentialId. */
export function mountCredentialRoutes(
  r: Router, path: string, kind: 'agent' | 'resourceServer', registry: RegistryService,
  manage: ReturnType<typeof requireScope>, actor: ReturnType<typeof actorOf>,
): void {
  r.route(`${path}/:id/credentials`)
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const body = parseBody(rotationBody, req.body);
      const answer = await registry.addCredential(actor(req), kind, String(req.params.id), body);
      res.status(201).json(body.type === 'secret' ? answer : { id: answer.id, type: 'jwk' });
    })
    .all(only('POST'));

  r.route(`${path}/:id/credentials/:credentialId`)
    .delete(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      await registry.deleteCredential(actor(req), kind, String(req.params.id), String(req.params.credentialId));
      res.json({ deleted: true });
    })
    .all(only('DELETE'));
}

/** An agent's credentials as the access review reads them: type, age and last use, from its live record. */
export async function credentialsOfAgent(store: RegistryStore, id: string): Promise<CredentialView[]> {
  const json = await store.get('agent', id);
  const rec = json === undefined ? undefined : (JSON.parse(json) as Partial<AgentRecord>);
  if (!rec?.credentials) return [];
  const used = await store.lastUsed('agent', id);
  return rec.credentials.map((c) => ({ kind: c.type, created: c.created, lastUsed: used[c.id] ? new Date(used[c.id]!).toISOString() : null }));
}

/** When the agent of that id was created (ms): usage counted before belongs to an earlier agent of the same id. */
export async function createdOfAgent(store: RegistryStore, id: string): Promise<number | undefined> {
  const json = await store.get('agent', id);
  const created = json === undefined ? undefined : (JSON.parse(json) as Partial<AgentRecord>).created;
  return created ? Date.parse(created) : undefined;
}

/** Every live agent's source and creation time (ms), from one read of the live registry. */
export async function provenanceOfAgents(registry: RegistryService): Promise<Map<string, Provenance>> {
  return new Map((await registry.list<AgentRecord>('agent')).map((r) => [r.id, { source: r.source, createdMs: Date.parse(r.created) }]));
}
