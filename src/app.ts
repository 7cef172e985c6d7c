import type { IncomingMessage, RequestListener } from 'node:http';
import express, { type Router } from 'express';
import type { Logger } from 'pino';
import { WELL_KNOWN, wellKnownPath } from 'agent-sts-gate/protocol';
import { accessRouter } from './admin/access.js';
import { createdOfAgent, credentialsOfAgent, provenanceOfAgents } from './admin/agents.js';
import { auditRouter } from './admin/audit.js';
import { adminProofs, lendAdminProofs } from './admin/authorize.js';
import { probeTargetsRouter } from './admin/probe-targets.js';
import { probesRouter } from './admin/probes.js';
import { adminRouter } from './admin/routes.js';
import { envelope, type EventSink } from './audit/events.js';
import type { Deps } from './deps.js';
import { OAuthError } from './errors.js';
import { consoleRouter } from './http/console.js';
import { errorHandler } from './http/errors.js';
import { frontOf, httpFront, limitByAddress, trustFunction } from './http/front.js';
import { noteFailures, timeRequests, type EndpointName } from './http/metrics.js';
import { oauthServer, type OAuthHandler, type OAuthRoute } from './http/oauth-server.js';
import { readiness } from './http/readiness.js';
import { pushAdminRouter } from './push/admin.js';
import { ssfEndpointsOf, ssfRouter } from './push/poll.js';
import { streamsRouter } from './push/streams.js';
import { denialSource } from './oauth/client-auth.js';
import { introspectionEndpoint } from './oauth/introspect.js';
import { serverMetadata } from './oauth/metadata.js';
import { revocationEndpoint } from './oauth/revoke.js';
import { scimRouter } from './scim/router.js';
import { SeenRecorder } from './scim/seen.js';
import { tokenEndpoint } from './oauth/token.js';

/** A failed client authentication at /introspect or /revoke is a denial too: a best-effort event. */
function denialsOf(events: EventSink, nowMs: () => number, endpoint: 'introspect' | 'revoke', handle: OAuthHandler): OAuthHandler {
  return async (req) => {
    try {
      return await handle(req);
    } catch (err) {
      if (err instanceof OAuthError && err.error === 'invalid_client') {
        events.emit({
          type: 'token.denied', ...envelope(req.context, nowMs(), null), endpoint, error: err.error, reason: err.reason ?? err.error,
          ...(err.description ? { description: err.description } : {}), ...denialSource(req, undefined),
        });
      }
      throw err;
    }
  };
}

const path = (url: string) => new URL(url).pathname;
/** Where the SCIM service provider answers, under the issuer's path. */
const SCIM_PATH = '/scim/v2';
const issuerPathOf = (deps: Deps) => path(deps.endpoints.issuer).replace(/\/$/, '');

/** What the endpoints are handed: the dependencies, the token endpoint's URL and the service clock. */
export const serviceContext = (deps: Deps) => ({
  ...deps, tokenEndpoint: deps.endpoints.token, nowMs: () => deps.sessions.now(), ...(deps.metrics ? { introspected: deps.metrics.introspected } : {}),
});
type ServiceContext = ReturnType<typeof serviceContext>;

/** A router of the admin API or SSF and where it is mounted. */
export interface PrivateMount {
  at: string;
  router: Router;
}

/**
 * Every router of the admin API and SSF, in mount order. Each is made by admin/http-kit.ts's
 * privateRouter, so each answers no-store by itself, whatever is mounted before it
 * (test/security/no-store.test.ts walks these routers' routes).
 */
export function privateMounts(deps: Deps, ctx: ServiceContext): PrivateMount[] {
  const admin = `${issuerPathOf(deps)}/admin`;
  const contextOf = (req: IncomingMessage) => frontOf(req).context;
  const mounts: PrivateMount[] = [];
  if (deps.audit) mounts.push({ at: `${admin}/audit`, router: auditRouter(deps.sessions, deps.audit.trail, deps.audit.checkpoints, deps.keys) });
  if (deps.usageStore) {
    mounts.push({ at: admin, router: accessRouter({
      sessions: deps.sessions, registry: deps.registry, usageStore: deps.usageStore, ...(deps.usage ? { usage: deps.usage } : {}),
      retentionDays: deps.config.usage.retentionDays, staleCredentialDays: deps.config.usage.staleCredentialDays,
      probeMaxAgeDays: deps.config.usage.probeMaxAgeDays, ...(deps.stores.probes ? { probes: deps.stores.probes } : {}),
      ...(deps.liveRegistry ? { credentialsOf: (id: string) => credentialsOfAgent(deps.liveRegistry!.store, id), createdOf: (id: string) => createdOfAgent(deps.liveRegistry!.store, id) } : {}),
      ...(deps.liveRegistry && deps.stores.scimSeen ? {
        drift: { provenance: () => provenanceOfAgents(deps.liveRegistry!.service), seen: deps.stores.scimSeen, unseenDays: deps.config.usage.scimUnseenDays },
      } : {}),
    }) });
  }
  mounts.push({ at: admin, router: adminRouter(deps.sessions, contextOf, deps.liveRegistry?.service) });
  if (deps.stores.probes) mounts.push({ at: admin, router: probesRouter({
    sessions: deps.sessions, contextOf, registry: deps.registry, store: deps.stores.probes, events: deps.events, maxAgeDays: deps.config.usage.probeMaxAgeDays,
  }) });
  if (deps.stores.probes && deps.liveRegistry) mounts.push({ at: admin, router: probeTargetsRouter({
    sessions: deps.sessions, contextOf, registry: deps.registry, store: deps.stores.probes, events: deps.events,
    httpAllowed: deps.config.env !== 'production', ...(deps.pushPolicy ? { policy: deps.pushPolicy } : {}),
  }) });
  if (deps.liveRegistry) {
    const base = `${deps.endpoints.issuer.replace(/\/$/, '')}${SCIM_PATH}`;
    mounts.push({ at: `${issuerPathOf(deps)}${SCIM_PATH}`, router: scimRouter({
      sessions: deps.sessions, registry: deps.liveRegistry.service, contextOf, base,
      // sightings feed the access review only: none without it (STS_USAGE=off)
      ...(deps.usageStore && deps.stores.scimSeen ? { seen: new SeenRecorder(deps.stores.scimSeen, () => deps.sessions.now()) } : {}),
    }) });
  }
  if (deps.ssf) {
    const ssfEndpoints = ssfEndpointsOf(deps.endpoints.issuer, deps.endpoints.jwks);
    mounts.push({ at: '/', router: ssfRouter(ctx, deps.ssf, ssfEndpoints, contextOf, ctx.nowMs) });
    mounts.push({ at: '/', router: streamsRouter(ctx, deps.ssf, ssfEndpoints, deps.keys, contextOf, ctx.nowMs) });
    mounts.push({ at: admin, router: pushAdminRouter({
      sessions: deps.sessions, contextOf, registry: deps.registry, store: deps.ssf.store, events: deps.events,
      httpAllowed: deps.ssf.httpPushAllowed === true, ...(deps.pushPolicy ? { policy: deps.pushPolicy } : {}),
    }) });
  }
  return mounts;
}

/**
 * Builds the HTTP request listener from its dependencies; no side effects at import. The OAuth
 * endpoints are served on bare node:http; metadata, JWKS, health and the admin API on express,
 * both behind one front (request id, client address) and one error renderer.
 */
export function createApp(deps: Deps, log: Logger): RequestListener {
  const { endpoints } = deps;
  const ctx = serviceContext(deps);
  const issuerPath = issuerPathOf(deps);
  const metadataPath = wellKnownPath(endpoints.issuer, WELL_KNOWN.authorizationServer);
  const named = new Map<string, EndpointName>([
    [metadataPath, 'metadata'], [path(endpoints.jwks), 'jwks'], [path(endpoints.authorization), 'authorize'],
    [`${issuerPath}/healthz`, 'healthz'], [`${issuerPath}/readyz`, 'readyz'],
  ]);
  const endpointOf = (p: string): EndpointName => named.get(p) ?? (p === `${issuerPath}/admin` || p.startsWith(`${issuerPath}/admin/`) ? 'admin' : 'other');

  const trust = trustFunction(deps.trustProxy);
  const app = express();
  // Unused by our code (the front computes the address), but req.ip must agree with it if read.
  app.set('trust proxy', trust ?? false);
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  if (deps.metrics) app.use(timeRequests(deps.metrics, endpointOf));
  const metadata = serverMetadata(endpoints, deps.grants);
  app.get(metadataPath, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(metadata);
  });
  app.all(path(endpoints.authorization), (_req, _res, next) => {
    next(new OAuthError(400, 'unsupported_response_type', 'agent-sts has no interactive authorization: use client_credentials or token exchange at its token endpoint'));
  });
  app.get(path(endpoints.jwks), (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').type('application/jwk-set+json').send(JSON.stringify(deps.keys.jwks()));
  });
  // One per-address limit and one DPoP proof check for every admin route, whichever router serves it.
  const proofs = lendAdminProofs(adminProofs({ issuer: endpoints.issuer, replay: deps.replay, dpopKeys: deps.dpopKeys, nowMs: ctx.nowMs }));
  app.use(`${issuerPath}/admin`, limitByAddress(deps.limits), proofs);
  if (deps.ssf) app.use(`${issuerPath}/ssf`, limitByAddress(deps.limits));
  // SCIM: the admin API's address limit and proof check; its errors as SCIM error bodies
  app.use(`${issuerPath}${SCIM_PATH}`, limitByAddress(deps.limits), proofs);
  for (const { at, router } of privateMounts(deps, ctx)) app.use(at, router);
  app.use(`${issuerPath}${SCIM_PATH}`, errorHandler(log, 'scim'));
  app.use(`${issuerPath}/console`, consoleRouter());
  // Development: whoever opens the base URL in a browser lands on the console (production keeps the JSON 404).
  if (deps.config.env === 'development') app.get(issuerPath || '/', (_req, res) => res.redirect(302, `${issuerPath}/console/`));
  app.get(`${issuerPath}/healthz`, async (_req, res) => {
    await deps.stores.sessions.ping();
    res.json({ status: 'ok' });
  });
  app.get(`${issuerPath}/readyz`, async (_req, res) => {
    const ready = await readiness(deps.stores.sessions, () => deps.liveRegistry?.live.loaded ?? true);
    res.status(ready.status === 'ready' ? 200 : 503).set('Cache-Control', 'no-store').json(ready);
  });
  app.use((_req, _res, next) => next(new OAuthError(404, 'not_found', 'no such endpoint')));
  if (deps.metrics) app.use(noteFailures(deps.metrics, endpointOf));
  app.use(errorHandler(log));

  const routes = new Map<string, OAuthRoute>([
    [path(endpoints.token), { url: endpoints.token, name: 'token', handle: (req) => tokenEndpoint(ctx, req) }],
    [path(endpoints.introspection), { url: endpoints.introspection, name: 'introspect', handle: denialsOf(deps.events, ctx.nowMs, 'introspect', (req) => introspectionEndpoint(ctx, req)) }],
    [path(endpoints.revocation), { url: endpoints.revocation, name: 'revoke', handle: denialsOf(deps.events, ctx.nowMs, 'revoke', (req) => revocationEndpoint(ctx, req)) }],
  ]);
  return httpFront(trust, ctx.nowMs, oauthServer(routes, deps.limits, log, app, deps.metrics));
}
