/**
 * Why a resource server refused a request, as RFC 6750 §3 and RFC 9449 §7 answer it: the status,
 * the error code (none when no token came), and which challenge scheme to send.
 */
export type RefusalCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'temporarily_unavailable';

export class Refusal extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 503,
    readonly code: RefusalCode | undefined,
    readonly description: string,
    readonly scheme: 'Bearer' | 'DPoP' = 'Bearer',
  ) {
    super(description);
    this.name = 'Refusal';
  }
}

export const noToken = () => new Refusal(401, undefined, 'no access token');
export const invalidToken = (d: string, scheme: 'Bearer' | 'DPoP' = 'Bearer') => new Refusal(401, 'invalid_token', d, scheme);
export const badRequest = (d: string) => new Refusal(400, 'invalid_request', d);
export const insufficientScope = (d: string) => new Refusal(403, 'insufficient_scope', d);
/** The authorization server could not answer: fail closed, never "let it through". */
export const unavailable = (d: string) => new Refusal(503, 'temporarily_unavailable', d);

const MAX_DESCRIPTION_CHARS = 200;
/** RFC 6750 §3: error_description and scope are %x20-21 / %x23-5B / %x5D-7E inside a quoted-string. */
export function quotable(text: string): string {
  return text.slice(0, MAX_DESCRIPTION_CHARS).replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/gu, (c) => (c === '"' ? "'" : '?'));
}

/** The DPoP signing algorithms a challenge names (RFC 9449 §7.1). */
export const DPOP_ALGS = 'ES256 EdDSA';

/** The WWW-Authenticate value for a refusal; undefined for answers that take no challenge (400 without a token, 503). */
export function challenge(r: Refusal, realm: string, resourceMetadataUrl: string, requiredScopes: string[]): string | undefined {
  if (r.status === 503) return undefined;
  const params = [`realm="${quotable(realm)}"`];
  if (r.code) params.push(`error="${r.code}"`, `error_description="${quotable(r.description)}"`);
  if (r.code === 'insufficient_scope' && requiredScopes.length) params.push(`scope="${quotable(requiredScopes.join(' '))}"`);
  if (r.scheme === 'DPoP') params.push(`algs="${DPOP_ALGS}"`);
  params.push(`resource_metadata="${quotable(resourceMetadataUrl)}"`);
  return `${r.scheme} ${params.join(', ')}`;
}
