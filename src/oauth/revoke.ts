import type { SessionService } from '../sessions/service.js';
import { authenticateClient, type AuthContext } from './client-auth.js';
import { assertWellFormed, requireParam, type OAuthRequest, type OAuthResponse } from './request.js';

/**
 * POST /revoke (RFC 7009): an agent revokes its own token, killing the session and every
 * descendant. Unknown, invalid or someone else's token: 200 and nothing changes.
 */
export async function revocationEndpoint(ctx: AuthContext & { sessions: SessionService }, req: OAuthRequest): Promise<OAuthResponse> {
  assertWellFormed(req);
  const agent = await authenticateClient(ctx, req, 'agent');
  const session = await ctx.sessions.lookupClaims(requireParam(req, 'token'), undefined, { endpoint: 'revoke', context: req.context, by: agent.id });
  if (session && session.agent === agent.id) await ctx.sessions.revokeTree(session.sid, agent.id, 'revocation', req.context);
  return { body: '' };
}
