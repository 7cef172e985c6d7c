import type { Router } from 'express';
import { z } from 'zod';
import { auditUnavailable, envelope, type EventSink } from '../audit/events.js';
import type { Registry } from '../clients/types.js';
import { invalidRequest } from '../errors.js';
import { notFound } from '../registry/errors.js';
import { adminContextOf, jsonOrEmpty, only, parseBody, parseJson, privateRouter, requireScope, type AdminRequest, type ContextOf } from '../admin/http-kit.js';
import type { SessionService } from '../sessions/service.js';
import type { SsfStore } from '../store/ssf.js';
import type { PushAddressPolicy } from './address-policy.js';

/** The longest Authorization header value agent-sts sends with a push. */
const MAX_AUTHORIZATION_LENGTH = 4_096;

/**
 * An endpoint agent-sts may push to: absolute, no credentials or fragment in it, https unless in
 * development, and in production no internal address (`policy`; a name is judged again on every
 * address it resolves to when delivery connects).
 */
export function pushEndpointProblem(raw: string, httpAllowed: boolean, policy?: PushAddressPolicy): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'endpoint must be an absolute URL';
  }
  if (u.protocol !== 'https:' && !(httpAllowed && u.protocol === 'http:')) return httpAllowed ? 'endpoint must be http or https' : 'endpoint must be https';
  if (u.username || u.password || u.hash) return 'endpoint must not carry credentials or a fragment';
  return policy?.hostProblem(u.hostname);
}

const pushBody = z.strictObject({
  endpoint: z.string().min(1).max(2_048),
  authorization: z.string().min(1).max(MAX_AUTHORIZATION_LENGTH).regex(/^[\x20-\x7e]+$/, 'printable ASCII only').optional(),
});

/**
 * /admin/resource-servers/:id/ssf-push: where agent-sts pushes that resource server's SETs (RFC 8935).
 * PUT registers (delivery starts from the oldest SET kept), GET shows it and how delivery goes
 * (the authorization value is never shown), DELETE stops pushing.
 */
export function pushAdminRouter(o: {
  sessions: SessionService; contextOf: ContextOf; registry: Registry; store: SsfStore; events: EventSink; httpAllowed: boolean; policy?: PushAddressPolicy;
}): Router {
  const r = privateRouter();
  const adminContext = adminContextOf(o.contextOf);
  const record = (req: AdminRequest, id: string) => o.events
    .record({ type: 'resource_server.updated', resourceServer: id, by: req.admin!.agent, fields: ['ssfPush'], ...envelope(adminContext(req), o.sessions.now(), req.admin!.agent) })
    .catch(auditUnavailable);
  const known = async (id: string) => {
    if (!(await o.registry.resourceServer(id))) throw notFound('resource server');
  };
  r.route('/resource-servers/:id/ssf-push')
    .get(requireScope(o.sessions, 'agents:read'), async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      const found = await o.store.push(id);
      if (!found) throw notFound('push registration');
      const { state } = found;
      res.json({
        endpoint: found.target.endpoint, authorization: found.target.authorization !== undefined,
        delivery: { failing: state.attempts > 0, attempts: state.attempts, lastError: state.lastError || null, failingSince: state.failingSinceMs ? new Date(state.failingSinceMs).toISOString() : null },
      });
    })
    .put(requireScope(o.sessions, 'agents:manage'), jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      const body = parseBody(pushBody, req.body);
      const problem = pushEndpointProblem(body.endpoint, o.httpAllowed, o.policy);
      if (problem) throw invalidRequest(problem);
      await known(id);
      await o.store.setPush(id, { endpoint: body.endpoint, ...(body.authorization ? { authorization: body.authorization } : {}) });
      await record(req, id);
      res.json({ endpoint: body.endpoint, authorization: body.authorization !== undefined });
    })
    .delete(requireScope(o.sessions, 'agents:manage'), jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      if (!(await o.store.push(id))) throw notFound('push registration');
      await o.store.setPush(id, undefined);
      await record(req, id);
      res.json({ deleted: true });
    })
    .all(only('GET, HEAD, PUT, DELETE'));
  return r;
}
