import { envelope, type EventSink } from '../audit/events.js';
import { invalidClient, OAuthError } from '../errors.js';
import { AgentDisabledError } from '../sessions/service.js';
import { authenticateClient, denialSource, type AuthContext } from './client-auth.js';
import { tokenRequestBinding, type DpopContext } from './dpop.js';
import { clientCredentials } from './grants/client-credentials.js';
import { tokenExchange } from './grants/token-exchange.js';
import type { GrantContext, GrantHandler } from './grants/types.js';
import { assertWellFormed, requireParam, type OAuthRequest, type OAuthResponse } from './request.js';

/** The grants this server offers, and the single place that says so. */
export const GRANTS: readonly GrantHandler[] = [clientCredentials, tokenExchange];

export type TokenContext = GrantContext & AuthContext & DpopContext & { events: EventSink };

/** POST /token: authenticate the agent, dispatch on grant_type; every denial is an audit event. */
export async function tokenEndpoint(ctx: TokenContext, req: OAuthRequest): Promise<OAuthResponse> {
  let agentId: string | undefined;
  let grantType: string | undefined;
  try {
    assertWellFormed(req);
    const agent = await authenticateClient(ctx, req, 'agent');
    agentId = agent.id;
    grantType = requireParam(req, 'grant_type');
    const grant = GRANTS.find((g) => g.grantType === grantType);
    if (!grant) throw new OAuthError(400, 'unsupported_grant_type', `grant_type '${grantType}' is not supported`);
    return await grant.handle(ctx, req, agent, await tokenRequestBinding(ctx, req, agent));
  } catch (caught) {
    // a disabled agent answers as a wrong secret does, challenge included
    const err = caught instanceof AgentDisabledError ? invalidClient(/^basic /i.test(req.headers.authorization ?? '')).because('agent_disabled') : caught;
    if (err instanceof OAuthError) {
      ctx.events.emit({
        type: 'token.denied', ...envelope(req.context, ctx.nowMs(), agentId ?? null), endpoint: 'token', error: err.error, reason: err.reason ?? err.error,
        ...(agentId ? { agent: agentId } : {}), ...(grantType ? { grant: grantType } : {}),
        ...(err.description ? { description: err.description } : {}), ...(err.detail ? { detail: err.detail } : {}),
        ...denialSource(req, agentId),
      });
    }
    throw err;
  }
}
