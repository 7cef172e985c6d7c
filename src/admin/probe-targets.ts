import type { Router } from 'express';
import { z } from 'zod';
import { auditUnavailable, envelope, type EventSink } from '../audit/events.js';
import type { Registry } from '../clients/types.js';
import { invalidRequest } from '../errors.js';
import type { PushAddressPolicy } from '../push/address-policy.js';
import { pushEndpointProblem } from '../push/admin.js';
import { notFound } from '../registry/errors.js';
import type { SessionService } from '../sessions/service.js';
import type { ProbeStore, ProbeTarget } from '../store/probes.js';
import { MAX_SCOPE_CHARS, MAX_URL_CHARS } from '../probe/report.js';
import { adminContextOf, jsonOrEmpty, only, parseBody, parseJson, privateRouter, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';


const targetBody = z.strictObject({
  url: z.string().min(1).max(MAX_URL_CHARS),
  scope: z.string().min(1).max(MAX_SCOPE_CHARS).optional(),
  dpop: z.boolean().optional(),
});

/**
 * What is wrong with `raw` as the probe target of resource server `id`, if anything. The resource
 * server's origin is its id's: an id that is not an https URL (http too outside production) has
 * none, and no target. The URL must have that origin, and follow push delivery's rules (absolute,
 * no credentials or fragment, and in production no internal address: `policy`).
 */
export function probeTargetProblem(id: string, raw: string, httpAllowed: boolean, policy?: PushAddressPolicy): string | undefined {
  const schemes = httpAllowed ? ['https:', 'http:'] : ['https:'];
  const origin = URL.canParse(id) && schemes.includes(new URL(id).protocol) ? new URL(id).origin : undefined;
  if (!origin) return `url: the resource server's id is not ${httpAllowed ? 'an http(s)' : 'an https'} URL, so it has no origin a probe target could be under`;
  const problem = pushEndpointProblem(raw, httpAllowed, policy);
  if (problem) return `url: ${problem.replace(/^endpoint /, '')}`;
  if (new URL(raw).origin !== origin) return `url: must be under the resource server's origin ${origin}`;
  return undefined;
}

/**
 * /admin/resource-servers/:id/probe-target: the URL (and scope, DPoP) the server's scheduled probe
 * calls for that resource server (STS_PROBE_INTERVAL_MINUTES; kept but unused while it is 0).
 * PUT registers or replaces it, GET shows it, DELETE stops probing it. Each change is recorded as
 * `resource_server.updated` (field probeTarget).
 */
export function probeTargetsRouter(o: {
  sessions: SessionService; contextOf: ContextOf; registry: Registry; store: ProbeStore; events: EventSink; httpAllowed: boolean; policy?: PushAddressPolicy;
}): Router {
  const r = privateRouter();
  const adminContext = adminContextOf(o.contextOf);
  const record = (req: AdminRequest, id: string) => o.events
    .record({ type: 'resource_server.updated', resourceServer: id, by: req.admin!.agent, fields: ['probeTarget'], ...envelope(adminContext(req), o.sessions.now(), req.admin!.agent) })
    .catch(auditUnavailable);
  const registered = (id: string) => {
    const rs = o.registry.resourceServer(id);
    if (!rs) throw notFound('resource server');
    return rs;
  };
  const view = (t: ProbeTarget) => ({ url: t.url, scope: t.scope ?? null, dpop: t.dpop, registered: t.registered, by: t.by });

  r.route('/resource-servers/:id/probe-target')
    .get(requireScope(o.sessions, 'agents:read'), async (req: AdminRequest, res) => {
      const found = (await o.store.targets()).get(String(req.params.id));
      if (!found) throw notFound('probe target');
      res.json(view(found));
    })
    .put(requireScope(o.sessions, 'agents:manage'), jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      const body = parseBody(targetBody, req.body);
      const rs = registered(id);
      const problem = probeTargetProblem(id, body.url, o.httpAllowed, o.policy);
      if (problem) throw invalidRequest(problem);
      if (body.scope !== undefined && !rs.scopes.includes(body.scope)) throw invalidRequest(`scope: not one of the resource server's scopes (${rs.scopes.join(' ')})`);
      const target: ProbeTarget = {
        url: new URL(body.url).href, ...(body.scope ? { scope: body.scope } : {}), dpop: body.dpop === true,
        registered: new Date(o.sessions.now()).toISOString(), by: req.admin!.agent,
      };
      await o.store.setTarget(id, target);
      await record(req, id);
      res.json(view(target));
    })
    .delete(requireScope(o.sessions, 'agents:manage'), jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      if (!(await o.store.targets()).has(id)) throw notFound('probe target');
      await o.store.setTarget(id, undefined);
      await record(req, id);
      res.json({ deleted: true });
    })
    .all(only('GET, HEAD, PUT, DELETE'));
  return r;
}
