import type { Agent } from '../../clients/types.js';
import { invalidGrant, invalidRequest, unauthorizedClient } from '../../errors.js';
import type { DpopConfirmation } from '../../protocol/dpop.js';
import { parseScope } from '../../protocol/scope.js';
import { GRANT_TYPES, TOKEN_TYPES } from '../../protocol/tokens.js';
import { readTokenSid } from '../../sessions/access-token.js';
import { mayDelegate } from '../../sessions/chain.js';
import { childGrant, requireSubset, rootGrant, type Grant } from '../../sessions/attenuate.js';
import { param, requireParam, type OAuthRequest } from '../request.js';
import { singleTarget } from '../targets.js';
import { tokenResponse } from '../token-response.js';
import type { Session } from '../../store/index.js';
import { invalidDpopProof } from '../dpop.js';
import type { GrantContext, GrantHandler } from './types.js';

const ACCESS_TOKEN = TOKEN_TYPES.accessToken;
const JWT = TOKEN_TYPES.jwt;
const ACCEPTED_TYPES: Record<string, 'access_token' | 'jwt'> = { [ACCESS_TOKEN]: 'access_token', [JWT]: 'jwt' };

function tokenType(req: OAuthRequest, name: string): 'access_token' | 'jwt' {
  const type = requireParam(req, name);
  const kind = Object.hasOwn(ACCEPTED_TYPES, type) ? ACCEPTED_TYPES[type] : undefined;
  if (!kind) throw invalidRequest(`${name} must be ${ACCESS_TOKEN} or ${JWT}`);
  return kind;
}

/** An actor token, when sent, must be a live token of the authenticated agent itself (by its key, when bound). */
async function checkActor(ctx: GrantContext, req: OAuthRequest, agent: Agent, cnf: DpopConfirmation | undefined): Promise<void> {
  const actorToken = param(req, 'actor_token');
  if (actorToken === undefined) {
    if (param(req, 'actor_token_type') !== undefined) throw invalidRequest('actor_token_type without actor_token');
    return;
  }
  tokenType(req, 'actor_token_type');
  const actor = await ctx.sessions.lookup(actorToken, { endpoint: 'token', context: req.context, by: agent.id });
  if (!actor || actor.agent !== agent.id) throw invalidGrant('actor_token is not an active token of the authenticated agent').because('actor_not_own_live_token');
  if (actor.cnf && actor.cnf.jkt !== cnf?.jkt) throw invalidGrant("the DPoP proof's key is not the key actor_token is bound to").because('dpop_key_mismatch');
}

/**
 * A DPoP-bound subject token stays bound along the chain: the exchange needs a proof, and the new
 * token is bound to the requester's key. Its own holder must prove the subject's key; a delegate
 * proves its own (its client authentication, as a delegate the registry lists, is the hand-over).
 */
function checkSubjectBinding(parent: Session, agent: Agent, cnf: DpopConfirmation | undefined): void {
  if (!parent.cnf) return;
  if (!cnf) throw invalidDpopProof('the subject token is DPoP-bound: the exchange needs a DPoP proof').because('dpop_required');
  if (parent.agent === agent.id && parent.cnf.jkt !== cnf.jkt) {
    throw invalidGrant("the DPoP proof's key is not the key the subject token is bound to").because('dpop_key_mismatch');
  }
}

/** A live agent-sts token: the new session is its child, narrowed on every axis. */
async function delegatedGrant(ctx: GrantContext, req: OAuthRequest, agent: Agent, subjectToken: string, target: string, scope: string[], cnf: DpopConfirmation | undefined): Promise<Grant> {
  const parent = await ctx.sessions.lookup(subjectToken, { endpoint: 'token', context: req.context, by: agent.id });
  if (!parent) throw invalidGrant('subject token is not active').because('subject_inactive');
  if (!mayDelegate(await ctx.registry.agent(parent.agent), agent.id)) {
    throw invalidGrant('the agent is not a delegate of the subject token holder', `agent ${agent.id} is not a delegate of ${parent.agent}`).because('not_a_delegate');
  }
  checkSubjectBinding(parent, agent, cnf);
  return childGrant(agent, parent, target, scope, Math.floor(ctx.sessions.now() / 1000));
}

/** A trusted issuer's user token: a new root session on behalf of that user, the agent as actor. */
async function onBehalfOfGrant(ctx: GrantContext, agent: Agent, subjectToken: string, type: 'access_token' | 'jwt', target: string, scope: string[]): Promise<Grant> {
  const user = await ctx.upstream.verify(subjectToken, type);
  if (!user.issuer.agents.includes(agent.id)) throw invalidGrant('the agent may not act for users of this issuer', `agent ${agent.id} may not act for ${user.issuer.issuer} users`).because('not_allowed_for_issuer');
  requireSubset(scope, user.scope, "the subject token's scope", 'scope_not_in_subject');
  const nowS = Math.floor(ctx.sessions.now() / 1000);
  const grant = rootGrant(agent, target, scope, nowS, { sub: user.sub, act: { sub: agent.id } });
  // Inside the clock leeway a just-expired user token still verifies; it must not yield a dead token.
  if (user.exp <= nowS) throw invalidGrant('subject token has expired').because('subject_expired');
  return { ...grant, exp: Math.min(grant.exp, user.exp) };
}

/** RFC 8693 token exchange: delegation to sub-agents, and on-behalf-of for users of a trusted IdP. */
export const tokenExchange: GrantHandler = {
  grantType: GRANT_TYPES.tokenExchange,
  parameters: ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope', 'resource', 'audience'],
  async handle(ctx, req, agent, cnf) {
    if (!agent.tokenExchange) throw unauthorizedClient(`agent "${agent.id}" may not use token exchange`).because('exchange_not_allowed');
    const subjectToken = requireParam(req, 'subject_token');
    const subjectType = tokenType(req, 'subject_token_type');
    const requested = param(req, 'requested_token_type') ?? ACCESS_TOKEN;
    if (!Object.hasOwn(ACCEPTED_TYPES, requested)) throw invalidRequest(`requested_token_type must be ${ACCESS_TOKEN} or ${JWT}`);
    const target = singleTarget(req);
    const scope = parseScope(requireParam(req, 'scope'));
    if (scope.length === 0) throw invalidRequest('scope must name at least one scope');
    await checkActor(ctx, req, agent, cnf);

    const ours = readTokenSid(subjectToken, ctx.sessions.issuer) !== undefined;
    const grant = ours
      ? await delegatedGrant(ctx, req, agent, subjectToken, target, scope, cnf)
      : await onBehalfOfGrant(ctx, agent, subjectToken, subjectType, target, scope);
    const issued = await ctx.sessions.issue(cnf ? { ...grant, cnf } : grant, this.grantType, req.context);
    return tokenResponse(issued, ctx.sessions.now(), { issued_token_type: requested });
  },
};
