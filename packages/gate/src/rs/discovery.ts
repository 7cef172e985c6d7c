import { authorizationServerMetadata, DiscoveryError, type AuthorizationServerMetadata } from '../protocol/client/discovery.js';
import { unavailable } from './refusal.js';

/** The parts of RFC 8414 metadata a resource server uses. */
export type IssuerMetadata = Pick<AuthorizationServerMetadata, 'issuer' | 'introspection_endpoint' | 'jwks_uri'>;

/**
 * Fetches the issuer's metadata once and keeps it; a failure is not kept, so the next request
 * tries again (and is answered 503 meanwhile). The metadata must name the issuer it was asked for.
 */
export function issuerMetadata(issuer: string, timeoutMs: number): () => Promise<IssuerMetadata> {
  let pending: Promise<IssuerMetadata> | undefined;
  const load = async (): Promise<IssuerMetadata> => {
    try {
      return await authorizationServerMetadata(issuer, { timeoutMs });
    } catch (err) {
      throw unavailable(err instanceof DiscoveryError && err.code === 'mismatch'
        ? 'the authorization server metadata names another issuer'
        : 'the authorization server metadata could not be loaded');
    }
  };
  return () => {
    pending ??= load().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
