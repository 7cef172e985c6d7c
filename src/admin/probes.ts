import type { Router } from 'express';
import type { RequestContext } from '../audit/context.js';
import { auditUnavailable, type EventSink } from '../audit/events.js';
import { resourceServerProbed } from '../audit/records.js';
import type { Registry } from '../clients/types.js';
import { invalidRequest } from '../errors.js';
import { probeReportSchema, type ProbeReport } from '../probe/report.js';
import { notFound } from '../registry/errors.js';
import type { SessionService } from '../sessions/service.js';
import type { ProbeStore } from '../store/probes.js';
import { resourceServerReviews } from './probe-review.js';
import { adminContextOf, jsonOrEmpty, only, parseBody, parseJson, privateRouter, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';

/**
 * A probe's report kept as evidence: the `resource_server.probed` record, then the resource
 * server's last probe for the access review. The record first: a trail that cannot take it
 * refuses (503) with nothing kept. The CLI's report (posted here) and the server's scheduled
 * probe both go this way.
 */
export async function recordProbe(
  o: { sessions: SessionService; store: ProbeStore; events: EventSink }, report: ProbeReport, by: string, context: RequestContext,
): Promise<void> {
  const nowMs = o.sessions.now();
  await o.events.record(resourceServerProbed(report, by, context, nowMs)).catch(auditUnavailable);
  await o.store.put(report.resourceServer, {
    verdict: report.verdict, at: report.finishedAt, recorded: new Date(nowMs).toISOString(), target: report.target,
    killLatencyMs: report.killLatencyMs, failed: report.cases.filter((c) => c.outcome === 'fail').map((c) => c.id), by,
  });
}

/**
 * GET /admin/probes (agents:read): every resource server's last probe and its findings, as the
 * access review shows them (the console's page), without the agents' reviews.
 *
 * POST /admin/resource-servers/:id/probes: an enforcement probe's report (`agent-sts probe` posts
 * it), recorded as `resource_server.probed` and kept as the resource server's last probe for the
 * access review. Scope agents:manage: the probe needs it anyway to make its agents, and a reader
 * must not be able to turn a failing API's verdict into "enforcing". The report is the admin's
 * word, recorded as theirs (`by`); agent-sts cannot re-run it.
 */
export function probesRouter(o: {
  sessions: SessionService; contextOf: ContextOf; registry: Registry; store: ProbeStore; events: EventSink; maxAgeDays: number;
}): Router {
  const r = privateRouter();
  const adminContext = adminContextOf(o.contextOf);

  r.route('/probes')
    .get(requireScope(o.sessions, 'agents:read'), async (_req, res) => {
      const ids = o.registry.resourceServers?.().map((s) => s.id) ?? [];
      res.json({ resourceServers: resourceServerReviews(ids, await o.store.all(), o.sessions.now(), o.maxAgeDays) });
    })
    .all(only('GET, HEAD'));

  r.route('/resource-servers/:id/probes')
    .post(requireScope(o.sessions, 'agents:manage'), jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      const report = parseBody(probeReportSchema, req.body);
      if (report.resourceServer !== id) throw invalidRequest('resourceServer: must be the resource server of the URL');
      if (!o.registry.resourceServer(id)) throw notFound('resource server');
      await recordProbe(o, report, req.admin!.agent, adminContext(req));
      res.status(201).json({ recorded: true, resourceServer: id, verdict: report.verdict });
    })
    .all(only('POST'));
  return r;
}
