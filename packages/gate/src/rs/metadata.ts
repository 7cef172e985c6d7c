import type { NextFunction, Request, Response } from 'express';
import { WELL_KNOWN, wellKnownPath, wellKnownUrl } from '../protocol/client/discovery.js';

/** Clients may keep the document briefly; it changes only with a deployment. */
const METADATA_MAX_AGE_SECONDS = 300;

/** RFC 9728 §3.1: the well-known path goes between the resource's host and its path. */
export const resourceMetadataUrl = (resource: string): string => wellKnownUrl(resource, WELL_KNOWN.protectedResource);

export interface ProtectedResourceOptions {
  /** This resource server's identifier (the `audience` its tokens carry). */
  resource: string;
  /** Issuer URLs of the authorization servers whose tokens it accepts. */
  authorizationServers: string[];
  scopesSupported?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
  /** Any further RFC 9728 members, as they are to appear in the document. */
  extra?: Record<string, unknown>;
}

/** The RFC 9728 document for `o`. */
export function resourceMetadata(o: ProtectedResourceOptions): Record<string, unknown> {
  return {
    resource: o.resource,
    authorization_servers: o.authorizationServers,
    ...(o.scopesSupported ? { scopes_supported: o.scopesSupported } : {}),
    bearer_methods_supported: ['header'],
    ...(o.resourceName ? { resource_name: o.resourceName } : {}),
    ...(o.resourceDocumentation ? { resource_documentation: o.resourceDocumentation } : {}),
    ...o.extra,
  };
}

/**
 * Express middleware serving the RFC 9728 metadata at the path-suffixed well-known URL (the one
 * every challenge names) and, for clients that try the root form, at `/.well-known/oauth-protected-resource`.
 */
export function protectedResourceMetadata(o: ProtectedResourceOptions) {
  const body = JSON.stringify(resourceMetadata(o));
  const paths = new Set([wellKnownPath(o.resource, WELL_KNOWN.protectedResource), wellKnownPath(new URL(o.resource).origin, WELL_KNOWN.protectedResource)]);
  return (req: Request, res: Response, next: NextFunction): void => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !paths.has(req.path)) return next();
    res.set({ 'content-type': 'application/json', 'cache-control': `public, max-age=${METADATA_MAX_AGE_SECONDS}`, 'access-control-allow-origin': '*' });
    res.status(200).send(body);
  };
}
