import { errorText, formatChallenge } from '../protocol/client/challenge.js';
import { DPOP_SIGNING_ALGORITHMS } from '../protocol/dpop.js';

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

/** The WWW-Authenticate value for a refusal; undefined for answers that take no challenge (503). */
export function challenge(r: Refusal, realm: string, resourceMetadataUrl: string, requiredScopes: string[]): string | undefined {
  if (r.status === 503) return undefined;
  return formatChallenge(r.scheme, {
    realm,
    ...(r.code ? { error: r.code, error_description: errorText(r.description) } : {}),
    scope: r.code === 'insufficient_scope' && requiredScopes.length ? requiredScopes.join(' ') : undefined,
    // RFC 9449 §7.1: every algorithm a proof may use, exactly what the DPoP check accepts.
    algs: r.scheme === 'DPoP' ? DPOP_SIGNING_ALGORITHMS.join(' ') : undefined,
    resource_metadata: resourceMetadataUrl,
  });
}
