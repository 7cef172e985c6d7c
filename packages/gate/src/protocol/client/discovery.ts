/**
 * Discovery: where an identifier's metadata lives, and fetching it with the one check every reader
 * owes it (the document names the identifier it was asked for, RFC 8414 §3.3).
 */

/** The well-known suffixes agent-sts serves or reads. */
export const WELL_KNOWN = {
  /** RFC 8414 authorization server metadata. */
  authorizationServer: 'oauth-authorization-server',
  /** RFC 9728 protected resource metadata. */
  protectedResource: 'oauth-protected-resource',
  /** SSF 1.0 §7.2 transmitter configuration. */
  ssfConfiguration: 'ssf-configuration',
} as const;

export type WellKnownSuffix = (typeof WELL_KNOWN)[keyof typeof WELL_KNOWN];

/**
 * RFC 8414 §3.1 (and RFC 9728 §3.1, SSF §7.2): `/.well-known/<suffix>` goes between the host and
 * the identifier's path, whose terminating "/" is removed first; a query stays at the end.
 */
export function wellKnownUrl(identifier: string, suffix: WellKnownSuffix): string {
  const u = new URL(identifier);
  return `${u.origin}/.well-known/${suffix}${u.pathname.replace(/\/$/, '')}${u.search}`;
}

/** The path alone, as a server routes it. */
export const wellKnownPath = (identifier: string, suffix: WellKnownSuffix): string => new URL(wellKnownUrl(identifier, suffix)).pathname;

/** The parts of RFC 8414 metadata a client or resource server reads; the rest is there too, unchecked. */
export interface AuthorizationServerMetadata {
  issuer: string;
  token_endpoint?: string;
  introspection_endpoint?: string;
  revocation_endpoint?: string;
  jwks_uri?: string;
  dpop_signing_alg_values_supported?: string[];
  [member: string]: unknown;
}

/** Why discovery failed: `unreachable` (no usable answer) or `mismatch` (the document names another issuer). */
export class DiscoveryError extends Error {
  constructor(
    readonly code: 'unreachable' | 'mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'DiscoveryError';
  }
}

export interface FetchOptions {
  timeoutMs: number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** GETs a metadata document and checks that its `issuer` is exactly `issuer`. Throws DiscoveryError. */
export async function fetchMetadata(url: string, issuer: string, o: FetchOptions): Promise<Record<string, unknown> & { issuer: string }> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  let body: unknown;
  try {
    const res = await (o.fetch ?? fetch)(url, { headers: { accept: 'application/json' }, signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new DiscoveryError('unreachable', `${url}: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DiscoveryError('unreachable', `${url}: not a JSON object`);
  const found = (body as { issuer?: unknown }).issuer;
  if (found !== issuer) throw new DiscoveryError('mismatch', `${url} names issuer ${JSON.stringify(found)}, not ${issuer}`);
  return body as Record<string, unknown> & { issuer: string };
}

/** RFC 8414: the issuer's metadata, from the well-known URL of its identifier. */
export async function authorizationServerMetadata(issuer: string, o: FetchOptions): Promise<AuthorizationServerMetadata> {
  return (await fetchMetadata(wellKnownUrl(issuer, WELL_KNOWN.authorizationServer), issuer, o)) as AuthorizationServerMetadata;
}
