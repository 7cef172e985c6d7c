import { DPOP_TOKEN_TYPE, type IntrospectionBody } from 'agent-sts-gate/protocol';
import type { UsageAggregator } from '../audit/usage.js';
import type { SessionService } from '../sessions/service.js';
import { authenticateClient, CLIENT_AUTH_PARAMETERS, type AuthContext } from './client-auth.js';
import { assertWellFormed, requireParam, type OAuthRequest, type OAuthResponse } from './request.js';

const INACTIVE: OAuthResponse = { body: { active: false } };
/** RFC 7662 §2.1: what /introspect defines (each at most once); anything else is ignored. */
const PARAMETERS: ReadonlySet<string> = new Set([...CLIENT_AUTH_PARAMETERS, 'token', 'token_type_hint']);

/**
 * POST /introspect (RFC 7662): the live session state, from one store round trip. A resource
 * server sees only tokens addressed to itself; everything else is exactly {"active":false}.
 */
export async function introspectionEndpoint(
  ctx: AuthContext & { sessions: SessionService; usage?: UsageAggregator; introspected?: (active: boolean) => void }, req: OAuthRequest,
): Promise<OAuthResponse> {
  assertWellFormed(req, PARAMETERS);
  const caller = await authenticateClient(ctx, req, 'resourceServer');
  const token = requireParam(req, 'token');
  const s = await ctx.sessions.lookupClaims(token, caller.id, { endpoint: 'introspect', context: req.context, by: caller.id });
  if (!s || s.aud !== caller.id) {
    ctx.introspected?.(false);
    return INACTIVE;
  }
  ctx.introspected?.(true);
  ctx.usage?.note('introspected', caller.id, s.agent, s.aud, s.scope, req.context.startedMs);
  const body: IntrospectionBody = {
    active: true,
    iss: ctx.issuer,
    sub: s.sub,
    aud: s.aud,
    client_id: s.agent,
    scope: s.scope.join(' '),
    exp: s.exp,
    iat: s.iat,
    jti: s.jti,
    token_type: s.cnf ? DPOP_TOKEN_TYPE : 'Bearer',
    sid: s.sid,
  };
  // assigned, not spread: this object is built on every call a resource server makes
  if (s.act) body.act = s.act;
  if (s.cnf) body.cnf = s.cnf;
  return { body };
}
