import { hash } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { ASYMMETRIC_ALGORITHMS, CLOCK_TOLERANCE_SECONDS, issuedInFuture } from 'agent-sts-gate/protocol';
import { invalidClient } from '../errors.js';
import type { ReplayStore } from '../store/index.js';
import type { AssertionKeys } from './assertion-keys.js';
import type { VerifiedSecrets } from './secret.js';
import type { Agent, ClientKind, ClientSecret, Registry, ResourceServer } from './types.js';

/** The file registry's single secret is reported under this credential id. */
export const FILE_SECRET_ID = 'secret';

/** The secrets that authenticate `client` at `nowMs`: a rotated-out one stops at its expiry. */
function liveSecrets(client: Agent | ResourceServer, nowMs: number): ClientSecret[] {
  if (client.secrets) return client.secrets.filter((s) => s.expiresMs === undefined || s.expiresMs > nowMs);
  return client.secretHash ? [{ id: FILE_SECRET_ID, hash: client.secretHash }] : [];
}

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** A client assertion may not claim a longer life: its jti is remembered until it expires. */
const MAX_ASSERTION_LIFETIME_SECONDS = 3_600;

/** The credentials a request carried, as the endpoint read them (exactly one method). */
export interface PresentedCredentials {
  method: AuthMethod;
  clientId: string;
  secret?: string;
  assertion?: string;
}

export interface AuthenticationContext {
  registry: Registry;
  verifiedSecrets: VerifiedSecrets;
  replay: ReplayStore;
  assertionKeys: AssertionKeys;
  nowMs(): number;
}

export type Authenticated<K extends ClientKind> = K extends 'agent' ? Agent : ResourceServer;

/** The replay key of an assertion: a digest of both ids, so no two (client, jti) pairs can collide. */
export function assertionId(clientId: string, jti: string): string {
  return hash('sha256', JSON.stringify([clientId, jti]), 'base64url');
}

async function verifyAssertion(ctx: AuthenticationContext, clientId: string, jwks: { keys: JWK[] } | undefined, assertion: string, audiences: string[]): Promise<boolean> {
  let payload: JWTPayload;
  let decoy = false;
  try {
    const typ: unknown = decodeProtectedHeader(assertion).typ;
    if (typ !== undefined && (typeof typ !== 'string' || typ.toLowerCase().endsWith('at+jwt'))) return false;
    ({ payload } = await jwtVerify(assertion, ctx.assertionKeys.resolver(jwks, () => (decoy = true)), {
      algorithms: ASYMMETRIC_ALGORITHMS,
      issuer: clientId,
      subject: clientId,
      audience: audiences,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(ctx.nowMs()),
    }));
  } catch {
    return false; // any malformed or unverifiable assertion is a failed authentication
  }
  if (decoy) return false;
  const nowS = ctx.nowMs() / 1000;
  if (payload.exp! - nowS > MAX_ASSERTION_LIFETIME_SECONDS || issuedInFuture(payload, nowS)) return false;
  // RFC 7519 §4.1.7: jti is a string; 42 and "42" are different assertions, not one replayed.
  if (typeof payload.jti !== 'string' || payload.jti === '') return false;
  const rememberUntilMs = Math.ceil((payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000);
  return ctx.replay.useOnce('client-assertion', assertionId(clientId, payload.jti), rememberUntilMs, ctx.nowMs());
}

/**
 * Authenticates presented credentials as an agent or a resource server. Unknown client and wrong
 * credentials give the same answer, after the same work. `audiences`: what a client assertion may
 * name as its `aud` (the issuer and the endpoint's URLs).
 */
export async function authenticate<K extends ClientKind>(
  ctx: AuthenticationContext,
  creds: PresentedCredentials,
  kind: K,
  audiences: string[],
): Promise<Authenticated<K>> {
  const usedBasic = creds.method === 'client_secret_basic';
  const client = (kind === 'agent' ? await ctx.registry.agent(creds.clientId) : await ctx.registry.resourceServer(creds.clientId)) as
    | Agent
    | ResourceServer
    | undefined;
  let ok: boolean;
  if (creds.secret !== undefined) {
    const candidates = client ? liveSecrets(client, ctx.nowMs()) : [];
    // no secret to compare with: the same work against one nobody holds
    const matched = candidates.length === 0 ? (ctx.verifiedSecrets.verify(creds.clientId, creds.secret, undefined), undefined)
      : candidates.find((c) => ctx.verifiedSecrets.verify(creds.clientId, creds.secret!, c.hash));
    ok = matched !== undefined;
    if (matched && client) ctx.registry.credentialUsed?.(kind, client.id, matched.id);
  } else {
    ok = await verifyAssertion(ctx, creds.clientId, client?.jwks, creds.assertion!, audiences);
  }
  if (!ok || !client) throw invalidClient(usedBasic).because('client_authentication_failed');
  if ('disabled' in client && client.disabled) throw invalidClient(usedBasic).because('agent_disabled');
  return client as Authenticated<K>;
}
