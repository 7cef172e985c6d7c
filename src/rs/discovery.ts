import { unavailable } from './refusal.js';

/** The parts of RFC 8414 metadata a resource server uses. */
export interface IssuerMetadata {
  issuer: string;
  introspection_endpoint?: string;
  jwks_uri?: string;
}

/** RFC 8414 §3.1: the well-known path goes between the issuer's host and its path. */
export function metadataUrl(issuer: string): string {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/$/, '');
  return `${u.origin}/.well-known/oauth-authorization-server${path}`;
}

/**
 * Fetches the issuer's metadata once and keeps it; a failure is not kept, so the next request
 * tries again (and is answered 503 meanwhile). The metadata must name the issuer it was asked for.
 */
export function issuerMetadata(issuer: string, timeoutMs: number): () => Promise<IssuerMetadata> {
  let pending: Promise<IssuerMetadata> | undefined;
  const load = async (): Promise<IssuerMetadata> => {
    let body: unknown;
    try {
      const res = await fetch(metadataUrl(issuer), { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch {
      throw unavailable('the authorization server metadata could not be loaded');
    }
    const m = body as Partial<IssuerMetadata> | null;
    if (!m || m.issuer !== issuer) throw unavailable('the authorization server metadata names another issuer');
    return m as IssuerMetadata;
  };
  return () => {
    pending ??= load().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
