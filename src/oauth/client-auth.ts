import { decodeJwt } from 'jose';
import { JWT_BEARER_ASSERTION, MAX_TOKEN_LENGTH } from 'agent-sts-gate/protocol';
import { authenticate, type Authenticated, type AuthenticationContext, type PresentedCredentials } from '../clients/authenticate.js';
import type { ClientKind } from '../clients/types.js';
import { invalidClient, invalidRequest } from '../errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import { param, type OAuthRequest } from './request.js';

export interface AuthContext extends AuthenticationContext {
  limits: RateLimits;
  issuer: string;
  tokenEndpoint: string;
}

/** The parameters client authentication reads (RFC 6749 §2.3.1, RFC 7523 §2.2): defined at every endpoint that authenticates clients. */
export const CLIENT_AUTH_PARAMETERS = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type'] as const;

function formDecode(s: string): string {
  return s.includes('%') || s.includes('+') ? decodeURIComponent(s.replace(/\+/g, ' ')) : s;
}

function basicCredentials(header: string): { id: string; secret: string } {
  const encoded = header.slice('basic '.length).trim();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (!/^[A-Za-z0-9+/]+=*$/.test(encoded) || colon < 1) throw invalidRequest('malformed Basic authorization header');
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidRequest('malformed Basic authorization header');
  }
}

/** Which credentials the request carries (RFC 6749 §2.3, RFC 7523 §2.2); exactly one method is allowed. */
function presented(req: OAuthRequest): PresentedCredentials | undefined {
  const found: PresentedCredentials[] = [];
  const authz = req.headers.authorization;
  const bodyId = param(req, 'client_id');
  if (authz && /^basic /i.test(authz)) {
    const { id, secret } = basicCredentials(authz);
    if (bodyId !== undefined && bodyId !== id) throw invalidRequest('client_id does not match the Basic credentials');
    found.push({ method: 'client_secret_basic', clientId: id, secret });
  }
  const bodySecret = param(req, 'client_secret');
  if (bodySecret !== undefined) {
    if (bodyId === undefined) throw invalidRequest('client_secret without client_id');
    found.push({ method: 'client_secret_post', clientId: bodyId, secret: bodySecret });
  }
  const assertion = param(req, 'client_assertion');
  const assertionType = param(req, 'client_assertion_type');
  if (assertion !== undefined || assertionType !== undefined) {
    if (assertionType !== JWT_BEARER_ASSERTION) throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
    if (assertion === undefined) throw invalidRequest("missing parameter 'client_assertion'");
    let sub: unknown;
    try {
      sub = assertion.length <= MAX_TOKEN_LENGTH ? decodeJwt(assertion).sub : undefined;
    } catch {
      sub = undefined;
    }
    if (typeof sub !== 'string') throw invalidClient(false, 'client_assertion is not a usable JWT');
    if (bodyId !== undefined && bodyId !== sub) throw invalidRequest('client_id does not match the client assertion');
    found.push({ method: 'private_key_jwt', clientId: sub, assertion });
  }
  if (found.length > 1) throw invalidRequest('only one client authentication method may be used');
  return found[0];
}

/**
 * Who the caller said it was, for the audit record of a refusal before it authenticated: the
 * presented credentials' client id, else the form's client_id (also when the credentials were malformed).
 */
function claimedClientId(req: OAuthRequest): string | undefined {
  try {
    return presented(req)?.clientId ?? param(req, 'client_id');
  } catch {
    return param(req, 'client_id');
  }
}

/** Where a refusal came from, for its audit record: the caller's address, and the client id it tried when it never authenticated. */
export function denialSource(req: OAuthRequest, authenticated: string | undefined): { address?: string; clientId?: string } {
  const clientId = authenticated === undefined ? claimedClientId(req) : undefined;
  return { ...(req.address !== undefined ? { address: req.address } : {}), ...(clientId !== undefined ? { clientId } : {}) };
}

/** The calling client, authenticated, then held to its own rate limit. */
export async function authenticateClient<K extends ClientKind>(ctx: AuthContext, req: OAuthRequest, kind: K): Promise<Authenticated<K>> {
  const creds = presented(req);
  if (!creds) throw invalidClient(true, 'client authentication required');
  const client = await authenticate(ctx, creds, kind, [ctx.issuer, ctx.tokenEndpoint, req.endpointUrl]);
  await ctx.limits.client(kind, client.id);
  return client;
}
