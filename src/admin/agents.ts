import { Router, type Response } from 'express';
import type { JWK } from 'jose';
import { z } from 'zod';
import { isDeleted, credentialView, type AgentRecord, type Stored } from '../clients/records.js';
import { agentSchema } from '../clients/registry-file.js';
import { ADMIN_AUDIENCE, ADMIN_SCOPES } from '../clients/types.js';
import type { RegistryStore } from '../store/registry.js';
import type { CredentialView } from './access-review.js';
import { invalidRequest as badRequest } from '../errors.js';
import type { SessionService } from '../sessions/service.js';
import {
  checkNewKeys, conflict, firstSecret, listView, liveRecords, mergePatch, newKeyCredential, notFound, parseBody, readRecord, updateRecord,
  type RegistryAdmin,
} from './registry-common.js';
import { registryKit } from './registry-kit.js';
import { mountCredentialRoutes } from './credential-routes.js';
import { jsonOrEmpty, only, parseJson, type AdminRequest, type ContextOf } from './http-kit.js';

export type { RegistryAdmin };

/** An agent-wide scan for a narrowing kill reads at most this many of the agent's live sessions. */
const NARROWING_SCAN_LIMIT = 100_000;

const EDITABLE = ['owner', 'description', 'audiences', 'maxTokenTtlSeconds', 'maxDelegationDepth', 'tokenExchange', 'delegates'] as const;
type Editable = Pick<AgentRecord, (typeof EDITABLE)[number]>;

/** POST body: the file's schema, without stored secrets or status; `owner` is required through the API. */
const createBody = agentSchema.omit({ secretHash: true, disabled: true }).extend({ owner: z.string().min(1).max(200) });
const editableSchema = agentSchema.pick({ owner: true, description: true, audiences: true, maxTokenTtlSeconds: true, maxDelegationDepth: true, tokenExchange: true, delegates: true });
/** A merge patch may name only editable fields; values are checked on the merged result. */
const patchBody = z.strictObject(Object.fromEntries(EDITABLE.map((f) => [f, z.unknown().optional()])) as Record<(typeof EDITABLE)[number], z.ZodOptional<z.ZodUnknown>>);

const MANAGE = 'agents:manage';
const holdsManage = (a: Pick<AgentRecord, 'audiences' | 'disabled'>) => !a.disabled && (Object.hasOwn(a.audiences, ADMIN_AUDIENCE) ? a.audiences[ADMIN_AUDIENCE]! : []).includes(MANAGE);

export function agentView(r: AgentRecord, lastUsed: Record<string, number> = {}) {
  return {
    id: r.id, owner: r.owner ?? null, description: r.description ?? null, audiences: r.audiences,
    maxTokenTtlSeconds: r.maxTokenTtlSeconds, maxDelegationDepth: r.maxDelegationDepth, tokenExchange: r.tokenExchange, delegates: r.delegates,
    disabled: r.disabled, created: r.created, updated: r.updated, updatedBy: r.updatedBy, source: r.source,
    credentials: r.credentials.map((c) => credentialView(c, lastUsed[c.id])),
  };
}

/** Target → scopes the registry offers there (resource servers and the admin API). */
async function offered(reg: RegistryAdmin, target: string): Promise<readonly string[] | undefined> {
  if (target === ADMIN_AUDIENCE) return ADMIN_SCOPES;
  return (await reg.live.resourceServer(target))?.scopes;
}

/** The file's cross-entry rules, for one agent: delegates exist, scopes are offered where a server says what it offers. */
async function crossCheck(reg: RegistryAdmin, a: Editable & { id: string }): Promise<void> {
  for (const d of a.delegates) {
    if (d !== a.id && !(await reg.live.agent(d))) throw badRequest(`delegates: unknown agent "${d}"`);
  }
  for (const [target, scopes] of Object.entries(a.audiences)) {
    const known = await offered(reg, target);
    const extra = known ? scopes.filter((s) => !known.includes(s)) : [];
    if (extra.length) throw badRequest(`audiences["${target}"]: scope "${extra[0]}" is not offered there`);
  }
}

/** (target → scopes) the narrowing removed; a removed target maps to null (every scope there). */
function removedEntitlements(before: Record<string, string[]>, after: Record<string, string[]>): Map<string, Set<string> | null> {
  const out = new Map<string, Set<string> | null>();
  for (const [target, scopes] of Object.entries(before)) {
    if (!Object.hasOwn(after, target)) out.set(target, null);
    else {
      const gone = scopes.filter((s) => !after[target]!.includes(s));
      if (gone.length) out.set(target, new Set(gone));
    }
  }
  return out;
}

export function agentsRouter(sessions: SessionService, contextOf: ContextOf, reg: RegistryAdmin): Router {
  const r = Router();
  const { read, manage, adminContext, now, record, idOf, writable } = registryKit(sessions, contextOf, reg, 'agent', 'agent');
  /** The last enabled holder of agents:manage stays: nobody locks everyone out through the API. */
  const keepLastManager = async (id: string, after: Pick<AgentRecord, 'audiences' | 'disabled'> | undefined) => {
    const { docs } = await reg.store.all('agent');
    const current = docs.get(id);
    const before = current ? (JSON.parse(current) as Stored<AgentRecord>) : undefined;
    if (!before || isDeleted(before) || !holdsManage(before) || (after && holdsManage(after))) return;
    for (const [other, json] of docs) {
      const a = JSON.parse(json) as Stored<AgentRecord>;
      if (other !== id && !isDeleted(a) && holdsManage(a) && a.credentials.length > 0) return;
    }
    throw conflict(`"${id}" is the last enabled agent holding ${MANAGE}; see docs for the break-glass path`);
  };
  const answer = (res: Response, status: number, body: unknown) => res.status(status).json(body);

  r.route('/agents')
    .get(read, async (_req, res) => {
      const agents = await liveRecords<AgentRecord>(reg.store, 'agent');
      res.json({ agents: agents.map((a) => listView(agentView(a))) });
    })
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const body = parseBody(createBody, req.body);
      writable(body.id);
      await checkNewKeys(body.jwks as { keys: JWK[] } | undefined);
      await crossCheck(reg, body);
      const nowMs = now();
      const iso = new Date(nowMs).toISOString();
      const first = body.jwks ? undefined : firstSecret(nowMs);
      const { jwks, ...fields } = body;
      const rec: AgentRecord = {
        ...fields, disabled: false,
        credentials: first ? [first.credential] : await Promise.all((jwks!.keys as JWK[]).map((k) => newKeyCredential(k, iso))),
        created: iso, updated: iso, updatedBy: req.admin!.agent, source: 'api',
      };
      const existing = await reg.store.get('agent', body.id);
      const json = JSON.stringify(rec);
      const stored = existing === undefined ? await reg.store.add('agent', body.id, json)
        : isDeleted(JSON.parse(existing) as Stored<AgentRecord>) && (await reg.store.replace('agent', body.id, existing, json));
      if (!stored) throw conflict(`agent "${body.id}" exists`);
      // a deleted agent of that id left its status key: the new one starts enabled
      await reg.sessionStore.setAgentDisabled(body.id, false);
      await reg.live.refresh('agent', body.id);
      await record(req, { type: 'agent.created', agent: body.id, by: req.admin!.agent });
      answer(res, 201, { ...agentView(rec), ...(first ? { client_secret: first.secret } : {}) });
    })
    .all(only('GET, HEAD, POST'));

  r.route('/agents/:id')
    .get(read, async (req, res) => {
      const found = await readRecord<AgentRecord>(reg.store, 'agent', idOf(req));
      if (!found) throw notFound('agent');
      res.json(agentView(found.record, await reg.store.lastUsed('agent', idOf(req))));
    })
    .patch(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = idOf(req);
      writable(id);
      const patch = parseBody(patchBody, req.body);
      if (patch.owner === null) throw badRequest('owner: an agent keeps an accountable owner');
      const { previous, next } = await updateRecord<AgentRecord, null>(reg, 'agent', id, 'agent', async (cur) => {
        const editable = Object.fromEntries(EDITABLE.flatMap((f) => (cur[f] === undefined ? [] : [[f, cur[f]]])));
        const merged = parseBody(editableSchema.strict(), mergePatch(editable, patch)) as Editable;
        await crossCheck(reg, { ...merged, id });
        const nextRec: AgentRecord = { ...cur, ...Object.fromEntries(EDITABLE.map((f) => [f, merged[f]])), updated: new Date(now()).toISOString(), updatedBy: req.admin!.agent };
        for (const f of EDITABLE) if (nextRec[f] === undefined) delete nextRec[f];
        await keepLastManager(id, nextRec);
        return { next: nextRec, extra: null };
      });
      // Narrowing takes effect on live sessions: the chain rule already refuses them everywhere
      // the change is known; killing them makes it hold in the store too.
      const removed = removedEntitlements(previous.audiences, next.audiences);
      let revoked = 0;
      if (removed.size) {
        for (const s of await sessions.list({ agent: id }, NARROWING_SCAN_LIMIT)) {
          const gone = removed.get(s.aud);
          if (gone === undefined || (gone !== null && !s.scope.some((x) => gone.has(x)))) continue;
          revoked += await sessions.revokeTree(s.sid, req.admin!.agent, 'entitlement', adminContext(req));
        }
      }
      await record(req, { type: 'agent.updated', agent: id, by: req.admin!.agent, fields: Object.keys(patch), revoked });
      res.json({ ...agentView(next), revoked });
    })
    .delete(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = idOf(req);
      writable(id);
      if (!(await readRecord(reg.store, 'agent', id))) throw notFound('agent');
      await keepLastManager(id, undefined);
      // status first: from here no create naming the agent can store a session, on any instance
      await reg.sessionStore.setAgentDisabled(id, true);
      const revoked = await sessions.revokeAgent(id, req.admin!.agent, adminContext(req));
      await reg.store.put('agent', id, JSON.stringify({ id, deleted: new Date(now()).toISOString(), deletedBy: req.admin!.agent }));
      await reg.live.refresh('agent', id);
      await record(req, { type: 'agent.deleted', agent: id, by: req.admin!.agent, revoked });
      res.json({ deleted: true, revoked });
    })
    .all(only('GET, HEAD, PATCH, DELETE'));

  r.route('/agents/:id/disable')
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = idOf(req);
      writable(id);
      if (!(await readRecord(reg.store, 'agent', id))) throw notFound('agent');
      await keepLastManager(id, { audiences: {}, disabled: true });
      await reg.sessionStore.setAgentDisabled(id, true);
      await updateRecord<AgentRecord, null>(reg, 'agent', id, 'agent', (cur) => ({
        next: { ...cur, disabled: true, updated: new Date(now()).toISOString(), updatedBy: req.admin!.agent }, extra: null,
      }));
      const revoked = await sessions.revokeAgent(id, req.admin!.agent, adminContext(req));
      await record(req, { type: 'agent.disabled', agent: id, by: req.admin!.agent, revoked });
      res.json({ disabled: true, revoked });
    })
    .all(only('POST'));

  r.route('/agents/:id/enable')
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = idOf(req);
      writable(id);
      await updateRecord<AgentRecord, null>(reg, 'agent', id, 'agent', (cur) => ({
        next: { ...cur, disabled: false, updated: new Date(now()).toISOString(), updatedBy: req.admin!.agent }, extra: null,
      }));
      await reg.sessionStore.setAgentDisabled(id, false);
      await record(req, { type: 'agent.enabled', agent: id, by: req.admin!.agent });
      res.json({ disabled: false });
    })
    .all(only('POST'));

  mountCredentialRoutes(r, {
    kind: 'agent', path: '/agents', what: 'agent',
    event: (change, id, fields) => ({ type: `agent.${change}`, agent: id, ...fields }),
  }, { reg, manage, now, record, writable });

  return r;
}

/** An agent's credentials as the access review reads them: type, age and last use, from its live record. */
export async function credentialsOfAgent(store: RegistryStore, id: string): Promise<CredentialView[]> {
  const rec = (await readRecord<AgentRecord>(store, 'agent', id))?.record;
  if (!rec) return [];
  const used = await store.lastUsed('agent', id);
  return rec.credentials.map((c) => ({ kind: c.type, created: c.created, lastUsed: used[c.id] ? new Date(used[c.id]!).toISOString() : null }));
}
