import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { ASYMMETRIC_ALGORITHMS } from '../clients/registry-file.js';
import { UNKNOWN_CLIENT_HASH, type VerifiedSecrets } from '../clients/secret.js';
import type { Agent, Registry, ResourceServer } from '../clients/types.js';
import { invalidClient, invalidRequest } from '../errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { ReplayStore } from '../store/index.js';
import { MAX_TOKEN_LENGTH } from './access-token.js';
import { param, type OAuthRequest } from './request.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
type AuthMethod = (typeof AUTH_METHODS)[number];

/** Clock skew tolerated on client assertions and upstream tokens. */
export const CLOCK_TOLERANCE_SECONDS = 10;
/** jose checks iat only with maxTokenAge (which would make iat required): a future iat is refused here. */
export function issuedInFuture(payload: JWTPayload, nowS: number): boolean {
  return typeof payload.iat === 'number' && payload.iat > nowS + CLOCK_TOLERANCE_SECONDS;
}

/** A client assertion may not claim a longer life: its jti is remembered until it expires. */
const MAX_ASSERTION_LIFETIME_SECONDS = 3_600;

interface Presented {
  method: AuthMethod;
  clientId: string;
  secret?: string;
  assertion?: string;
}

export interface AuthContext {
  registry: Registry;
  verifiedSecrets: VerifiedSecrets;
  limits: RateLimits;
  replay: ReplayStore;
  issuer: string;
  tokenEndpoint: string;
  nowMs(): number;
}

export type ClientKind = 'agent' | 'resourceServer';
export type Authenticated<K extends ClientKind> = K extends 'agent' ? Agent : ResourceServer;

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

/** Which credentials the request carries; exactly one method is allowed. */
function presented(req: OAuthRequest): Presented | undefined {
  const found: Presented[] = [];
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
    if (assertion === undefined) throw invalidRequest('missing parameter "client_assertion"');
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

async function verifyAssertion(ctx: AuthContext, req: OAuthRequest, clientId: string, jwks: { keys: JWK[] } | undefined, assertion: string): Promise<boolean> {
  if (!jwks) return false;
  let payload: JWTPayload;
  try {
    const typ: unknown = decodeProtectedHeader(assertion).typ;
    if (typ !== undefined && (typeof typ !== 'string' || typ.toLowerCase().endsWith('at+jwt'))) return false;
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), {
      algorithms: ASYMMETRIC_ALGORITHMS,
      issuer: clientId,
      subject: clientId,
      audience: [ctx.issuer, ctx.tokenEndpoint, req.endpointUrl],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(ctx.nowMs()),
    }));
  } catch {
    return false; // any malformed or unverifiable assertion is a failed authentication
  }
  const nowS = ctx.nowMs() / 1000;
  if (payload.exp! - nowS > MAX_ASSERTION_LIFETIME_SECONDS || issuedInFuture(payload, nowS)) return false;
  return ctx.replay.useOnce(`${clientId}:${payload.jti}`, (payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000, ctx.nowMs());
}

/**
 * Authenticates the caller as an agent or a resource server. Unknown client and wrong credentials
 * give the same answer, after the same work.
 */
export async function authenticateClient<K extends ClientKind>(ctx: AuthContext, req: OAuthRequest, kind: K): Promise<Authenticated<K>> {
  const creds = presented(req);
  const usedBasic = creds?.method === 'client_secret_basic';
  if (!creds) throw invalidClient(true, 'client authentication required');
  const client = (kind === 'agent' ? await ctx.registry.agent(creds.clientId) : await ctx.registry.resourceServer(creds.clientId)) as
    | Agent
    | ResourceServer
    | undefined;
  let ok: boolean;
  if (creds.secret !== undefined) {
    const matches = ctx.verifiedSecrets.verify(creds.clientId, creds.secret, client?.secretHash ?? UNKNOWN_CLIENT_HASH);
    ok = matches && client?.secretHash !== undefined;
  } else {
    ok = await verifyAssertion(ctx, req, creds.clientId, client?.jwks, creds.assertion!);
  }
  if (!ok || !client) throw invalidClient(usedBasic);
  if ('disabled' in client && client.disabled) throw invalidClient(usedBasic);
  await ctx.limits.client(kind, client.id);
  return client as Authenticated<K>;
}
