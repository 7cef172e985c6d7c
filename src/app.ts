import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { adminRouter } from './admin/routes.js';
import type { Deps } from './deps.js';
import { OAuthError } from './errors.js';
import { errorHandler } from './http/errors.js';
import { oauthRoute } from './http/oauth-route.js';
import { introspectionEndpoint } from './oauth/introspect.js';
import { serverMetadata } from './oauth/metadata.js';
import { revocationEndpoint } from './oauth/revoke.js';
import { tokenEndpoint } from './oauth/token.js';

/** Builds the HTTP app from its dependencies; no side effects at import. */
export function createApp(deps: Deps, log: Logger): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  if (deps.trustProxy !== undefined) app.set('trust proxy', deps.trustProxy);
  const limitByAddress: RequestHandler = (req, _res, next) => {
    deps.limits.ip(req.ip ?? req.socket.remoteAddress ?? 'unknown').then(() => next(), next);
  };
  const { endpoints } = deps;
  const ctx = { ...deps, tokenEndpoint: endpoints.token, nowMs: () => deps.sessions.now() };
  const path = (url: string) => new URL(url).pathname;

  const metadata = serverMetadata(endpoints);
  const issuerPath = path(endpoints.issuer).replace(/\/$/, '');
  app.get(`/.well-known/oauth-authorization-server${issuerPath}`, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(metadata);
  });
  app.get(path(endpoints.jwks), (_req, res) => {
    res.set('Cache-Control', 'public, max-age=60').type('application/jwk-set+json').send(JSON.stringify(deps.keys.jwks()));
  });
  app.all(path(endpoints.token), limitByAddress, ...oauthRoute(endpoints.token, (req) => tokenEndpoint(ctx, req)));
  app.all(path(endpoints.introspection), limitByAddress, ...oauthRoute(endpoints.introspection, (req) => introspectionEndpoint(ctx, req)));
  app.all(path(endpoints.revocation), limitByAddress, ...oauthRoute(endpoints.revocation, (req) => revocationEndpoint(ctx, req)));
  app.use(`${issuerPath}/admin`, adminRouter(deps.sessions));
  app.get(`${issuerPath}/healthz`, async (_req, res) => {
    await deps.stores.sessions.ping();
    res.json({ status: 'ok' });
  });
  app.use((_req, _res, next) => next(new OAuthError(404, 'not_found', 'no such endpoint')));
  app.use(errorHandler(log));
  return app;
}
