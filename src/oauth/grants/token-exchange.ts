import { type DpopConfirmation, GRANT_TYPES, parseScope, TOKEN_TYPES } from 'agent-sts-gate/protocol';
import type { Agent, Registry } from '../../clients/types.js';
import { invalidGrant, invalidRequest } from '../../errors.js';
import { readTokenSid } from '../../sessions/access-token.js';
import { mayDelegate } from '../../sessions/chain.js';
import { childGrant, requireSubset, rootGrant, type Grant } from '../../sessions/attenuate.js';
import type { SessionService } from '../../sessions/service.js';
import type { Session } from '../../store/index.js';
import { invalidDpopProof } from '../dpop.js';
import { param, requireParam, type OAuthRequest } from '../request.js';
import { singleTarget } from '../targets.js';
import { tokenResponse } from '../token-response.js';
import type { SubjectTokenType, SubjectTokenVerifiers } from '../upstream/subject-token.js';
import type { TokenGrant } from './types.js';

export interface TokenExchangeDeps {
  sessions: Pick<SessionService, 'issuer' | 'now' | 'lookup' | 'issue'>;
  /** The subject token holder's delegates (the chain rule's hand-over). */
  registry: Pick<Registry, 'agent'>;
  /** A trusted issuer's user token, by subject_token_type (RFC 8693's subject-token profile). */
  userTokens: SubjectTokenVerifiers;
}

const ACCESS_TOKEN = TOKEN_TYPES.accessToken;
const JWT = TOKEN_TYPES.jwt;
const ACCEPTED_TYPES: Record<string, SubjectTokenType> = { [ACCESS_TOKEN]: 'access_token', [JWT]: 'jwt' };

function tokenType(req: OAuthRequest, name: string): SubjectTokenType {
  const type = requireParam(req, name);
  const kind = Object.hasOwn(ACCEPTED_TYPES, type) ? ACCEPTED_TYPES[type] : undefined;
  if (!kind) throw invalidRequest(`${name} must be ${ACCESS_TOKEN} or ${JWT}`);
  return kind;
}

/** An actor token, when sent, must be a live token of the authenticated agent itself (by its key, when bound). */
async function checkActor(ctx: TokenExchangeDeps, req: OAuthRequest, agent: Agent, cnf: DpopConfirmation | undefined): Promise<void> {
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
async function delegatedGrant(ctx: TokenExchangeDeps, req: OAuthRequest, agent: Agent, subjectToken: string, target: string, scope: string[], cnf: DpopConfirmation | undefined): Promise<Grant> {
  const parent = await ctx.sessions.lookup(subjectToken, { endpoint: 'token', context: req.context, by: agent.id });
  if (!parent) throw invalidGrant('subject token is not active').because('subject_inactive');
  if (!mayDelegate(ctx.registry.agent(parent.agent), agent.id)) {
    throw invalidGrant('the agent is not a delegate of the subject token holder', `agent ${agent.id} is not a delegate of ${parent.agent}`).because('not_a_delegate');
  }
  checkSubjectBinding(parent, agent, cnf);
  return childGrant(agent, parent, target, scope, Math.floor(req.context.startedMs / 1000));
}

/** A trusted issuer's user token: a new root session on behalf of that user, the agent as actor. */
async function onBehalfOfGrant(ctx: TokenExchangeDeps, req: OAuthRequest, agent: Agent, subjectToken: string, type: SubjectTokenType, target: string, scope: string[]): Promise<Grant> {
  const user = await ctx.userTokens[type](subjectToken, agent.id);
  requireSubset(scope, user.scope, "the subject token's scope", 'scope_not_in_subject');
  const nowS = Math.floor(req.context.startedMs / 1000);
  const grant = rootGrant(agent, target, scope, nowS, { sub: user.sub, act: { sub: agent.id } });
  // Inside the clock leeway a just-expired user token still verifies; it must not yield a dead token.
  if (user.exp <= nowS) throw invalidGrant('subject token has expired').because('subject_expired');
  return { ...grant, exp: Math.min(grant.exp, user.exp) };
}

/**
 * RFC 8693 token exchange: delegation to sub-agents, and on-behalf-of for users of a trusted IdP.
 * An absent (or empty) scope is invalid_request: an exchange always says what it narrows to.
 */
export function tokenExchangeGrant(deps: TokenExchangeDeps): TokenGrant {
  const grantType = GRANT_TYPES.tokenExchange;
  return {
    grantType,
    parameters: ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope', 'resource', 'audience'],
    repeatable: ['resource', 'audience'],
    async handle(req, agent, cnf) {
      const subjectToken = requireParam(req, 'subject_token');
      const subjectType = tokenType(req, 'subject_token_type');
      const requested = param(req, 'requested_token_type') ?? ACCESS_TOKEN;
      if (!Object.hasOwn(ACCEPTED_TYPES, requested)) throw invalidRequest(`requested_token_type must be ${ACCESS_TOKEN} or ${JWT}`);
      const target = singleTarget(req);
      const scope = parseScope(requireParam(req, 'scope'));
      if (scope.length === 0) throw invalidRequest('scope must name at least one scope');
      await checkActor(deps, req, agent, cnf);

      const ours = readTokenSid(subjectToken, deps.sessions.issuer) !== undefined;
      const grant = ours
        ? await delegatedGrant(deps, req, agent, subjectToken, target, scope, cnf)
        : await onBehalfOfGrant(deps, req, agent, subjectToken, subjectType, target, scope);
      const issued = await deps.sessions.issue(cnf ? { ...grant, cnf } : grant, grantType, req.context);
      return tokenResponse(issued, req.context.startedMs, { issued_token_type: requested });
    },
  };
}
