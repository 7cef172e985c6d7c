import { type DpopConfirmation, missingScopes } from 'agent-sts-gate/protocol';
import { invalidGrant, invalidScope, invalidTarget } from '../errors.js';
import type { Agent } from '../clients/types.js';
import type { Actor, Session } from '../store/index.js';

/** What a new token will carry, once every narrowing rule has been applied. */
export interface Grant {
  agent: string;
  sub: string;
  act?: Actor;
  aud: string;
  scope: string[];
  exp: number;
  parent?: Session;
  depth: number;
  maxDepth: number;
  /** The proof key the token is bound to (RFC 9449); absent: a bearer token. */
  cnf?: DpopConfirmation;
  /** The upstream assertion it was granted on (an ID-JAG's issuer and jti), named in its token.issued record. */
  assertion?: UpstreamAssertion;
}

export interface UpstreamAssertion {
  iss: string;
  jti: string;
}

/** The agent's entitlement at `target`; invalid_target when it has none. */
export function entitlement(agent: Agent, target: string): string[] {
  const scopes = Object.hasOwn(agent.audiences, target) ? agent.audiences[target] : undefined;
  if (!scopes) throw invalidTarget('the agent is not entitled to this target', `agent ${agent.id} is not entitled to ${target}`).because('target_not_entitled');
  return scopes;
}

/** `reason`: the audit trail's code for this refusal (`scope_not_in_subject`, `scope_not_entitled`). */
export function requireSubset(requested: string[], allowed: readonly string[], what: string, reason: string): void {
  const extra = missingScopes(requested, allowed);
  if (extra.length) throw invalidScope(`scope not within ${what}: ${extra.join(' ')}`).because(reason);
}

/** A root grant: target within the agent's entitlement, scope within it, lifetime within its limit. */
export function rootGrant(agent: Agent, target: string, scope: string[], nowS: number, subject?: { sub: string; act: Actor }): Grant {
  requireSubset(scope, entitlement(agent, target), `the agent's entitlement at ${target}`, 'scope_not_entitled');
  return {
    agent: agent.id,
    sub: subject?.sub ?? agent.id,
    ...(subject ? { act: subject.act } : {}),
    aud: target,
    scope,
    exp: nowS + agent.maxTokenTtlSeconds,
    depth: 0,
    maxDepth: agent.maxDelegationDepth,
  };
}

/**
 * A child grant under a live parent session: every hop can only narrow. Same audience, scope within
 * parent ∩ entitlement, expiry within both the parent's and the agent's limit, depth within the
 * smallest limit on the chain. A different agent gets a nested `act` naming it.
 */
export function childGrant(agent: Agent, parent: Session, target: string, scope: string[], nowS: number): Grant {
  const entitled = entitlement(agent, target);
  if (target !== parent.aud) throw invalidTarget(`an exchanged token keeps its audience "${parent.aud}"`).because('audience_changed');
  requireSubset(scope, parent.scope, "the subject token's scope", 'scope_not_in_subject');
  requireSubset(scope, entitled, `the agent's entitlement at ${target}`, 'scope_not_entitled');
  const depth = parent.depth + 1;
  const maxDepth = Math.min(parent.maxDepth, agent.maxDelegationDepth);
  if (depth > maxDepth) throw invalidGrant(`delegation depth ${depth} exceeds the chain's limit of ${maxDepth}`).because('depth_exceeded');
  const act = agent.id === parent.agent ? parent.act : { sub: agent.id, ...(parent.act ? { act: parent.act } : {}) };
  return {
    agent: agent.id,
    sub: parent.sub,
    ...(act ? { act } : {}),
    aud: target,
    scope,
    exp: Math.min(parent.exp, nowS + agent.maxTokenTtlSeconds),
    parent,
    depth,
    maxDepth,
  };
}
