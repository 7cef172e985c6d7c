import type { RequestListener } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import { adminRouter } from './admin/routes.js';
import type { Deps } from './deps.js';
import { OAuthError } from './errors.js';
import { errorHandler } from './http/errors.js';
import { oauthServer, type OAuthRoute } from './http/oauth-server.js';
import { introspectionEndpoint } from './oauth/introspect.js';
import { serverMetadata } from './oauth/metadata.js';
import { revocationEndpoint } from './oauth/revoke.js';
import { tokenEndpoint } from './oauth/token.js';

/**
 * Builds the HTTP request listener from its dependencies; no side effects at import. The OAuth
 * endpoints are served on bare node:http; metadata, JWKS, health and the admin API on express.
 */
export function createApp(deps: Deps, log: Logger): RequestListener {
  const { endpoints } = deps;
  const ctx = { ...deps, tokenEndpoint: endpoints.token, nowMs: () => deps.sessions.now() };
  const path = (url: string) => new URL(url).pathname;
  const issuerPath = path(endpoints.issuer).replace(/\/$/, '');

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const metadata = serverMetadata(endpoints);
  app.get(`/.well-known/oauth-authorization-server${issuerPath}`, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(metadata);
  });
  app.get(path(endpoints.jwks), (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').type('application/jwk-set+json').send(JSON.stringify(deps.keys.jwks()));
  });
  app.use(`${issuerPath}/admin`, adminRouter(deps.sessions));
  app.get(`${issuerPath}/healthz`, async (_req, res) => {
    await deps.stores.sessions.ping();
    res.json({ status: 'ok' });
  });
  app.use((_req, _res, next) => next(new OAuthError(404, 'not_found', 'no such endpoint')));
  app.use(errorHandler(log));

  const routes = new Map<string, OAuthRoute>([
    [path(endpoints.token), { url: endpoints.token, handle: (req) => tokenEndpoint(ctx, req) }],
    [path(endpoints.introspection), { url: endpoints.introspection, handle: (req) => introspectionEndpoint(ctx, req) }],
    [path(endpoints.revocation), { url: endpoints.revocation, handle: (req) => revocationEndpoint(ctx, req) }],
  ]);
  return oauthServer(routes, deps.limits, deps.trustProxy, log, ctx.nowMs, app);
}
