import type { SessionService } from '../sessions/service.js';
import { authenticateClient, CLIENT_AUTH_PARAMETERS, type AuthContext } from './client-auth.js';
import { assertWellFormed, requireParam, type OAuthRequest, type OAuthResponse } from './request.js';

/** RFC 7009 §2.1: what /revoke defines (each at most once); anything else is ignored. */
const PARAMETERS: ReadonlySet<string> = new Set([...CLIENT_AUTH_PARAMETERS, 'token', 'token_type_hint']);

/**
 * POST /revoke (RFC 7009): an agent revokes its own token, killing the session and every
 * descendant. Unknown, invalid or someone else's token: 200 and nothing changes.
 */
export async function revocationEndpoint(ctx: AuthContext & { sessions: SessionService }, req: OAuthRequest): Promise<OAuthResponse> {
  assertWellFormed(req, PARAMETERS);
  const agent = await authenticateClient(ctx, req, 'agent');
  const session = await ctx.sessions.lookupClaims(requireParam(req, 'token'), undefined, { endpoint: 'revoke', context: req.context, by: agent.id });
  if (session && session.agent === agent.id) await ctx.sessions.revokeTree(session.sid, agent.id, 'revocation', req.context);
  return { body: '' };
}
