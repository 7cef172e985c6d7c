import { envelope, type EventSink } from '../audit/events.js';
import { invalidClient, OAuthError, unauthorizedClient } from '../errors.js';
import { AgentDisabledError } from '../sessions/service.js';
import { authenticateClient, CLIENT_AUTH_PARAMETERS, denialSource, type AuthContext } from './client-auth.js';
import { tokenRequestBinding, type DpopContext } from './dpop.js';
import type { GrantList } from './grants/list.js';
import { assertNotRepeated, assertWellFormed, requireParam, type OAuthRequest, type OAuthResponse } from './request.js';

export type TokenContext = AuthContext & DpopContext & { events: EventSink; grants: GrantList };

/** What the endpoint itself defines, whatever the grant (DPoP is a header). */
const ENDPOINT_PARAMETERS: ReadonlySet<string> = new Set(['grant_type', ...CLIENT_AUTH_PARAMETERS]);

/**
 * POST /token: authenticate the agent, find the grant by grant_type among those offered, hold the
 * request to the parameters that grant defines and the agent to the grant types it is allowed
 * (RFC 6749 §5.2 unauthorized_client), then the grant; every denial is an audit event.
 */
export async function tokenEndpoint(ctx: TokenContext, req: OAuthRequest): Promise<OAuthResponse> {
  let agentId: string | undefined;
  let grantType: string | undefined;
  try {
    assertWellFormed(req, ENDPOINT_PARAMETERS);
    const agent = await authenticateClient(ctx, req, 'agent');
    agentId = agent.id;
    grantType = requireParam(req, 'grant_type');
    const offered = ctx.grants.get(grantType);
    if (!offered) throw new OAuthError(400, 'unsupported_grant_type', `grant_type '${grantType}' is not supported`);
    assertNotRepeated(req, offered.once);
    if (!agent.grantTypes.includes(grantType)) {
      throw unauthorizedClient(`agent '${agent.id}' may not use the grant type ${grantType}`).because('grant_type_not_allowed');
    }
    return await offered.grant.handle(req, agent, await tokenRequestBinding(ctx, req, agent));
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
