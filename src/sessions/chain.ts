import { scopesWithin } from 'agent-sts-gate/protocol';
import type { Agent, Registry } from '../clients/types.js';
import { agentsOf, type TokenClaims } from '../store/index.js';

/** May `holder` hand its token to `next`? Keeping one's own token (a narrowing) needs no permission. */
export function mayDelegate(holder: Agent | undefined, next: string): boolean {
  return holder !== undefined && (holder.id === next || holder.delegates.includes(next));
}

/**
 * The rule a token lives by beyond its session: every agent on its chain — the holder of each
 * ancestor session, its own holder, every actor — is registered and enabled, its holder is still
 * entitled to its scope at its audience, and every hand-over along the chain is one the registry
 * still allows. Checked in process from the live registry, so
 * disabling an agent, or removing a delegate, ends every token that passed through it.
 */
export function chainAllowed(registry: Registry, s: ChainClaims): boolean {
  // Most tokens are an agent's own, never handed over: one holder, no actor, no hand-over to check.
  if (s.chain.length === 0 && !s.act) {
    const agent = registry.agent(s.agent);
    return agent !== undefined && !agent.disabled && entitled(agent, s);
  }
  const holders = [...s.chain, s.agent];
  const agents = new Map<string, Agent | undefined>();
  for (const id of new Set([...holders, ...agentsOf(s)])) {
    const agent = registry.agent(id);
    if (!agent || agent.disabled) return false;
    agents.set(id, agent);
  }
  if (!entitled(agents.get(s.agent)!, s)) return false;
  for (let i = 1; i < holders.length; i++) {
    if (!mayDelegate(agents.get(holders[i - 1]!), holders[i]!)) return false;
  }
  return true;
}

type ChainClaims = Pick<TokenClaims, 'agent' | 'act' | 'chain'> & Partial<Pick<TokenClaims, 'aud' | 'scope'>>;

/**
 * Every grant keeps a session's scope within its holder's entitlement at its audience; a
 * narrowing of the registry (a scope or target removed) ends the tokens it no longer covers.
 */
function entitled(holder: Agent, s: ChainClaims): boolean {
  if (s.aud === undefined || s.scope === undefined) return true;
  const allowed = Object.hasOwn(holder.audiences, s.aud) ? holder.audiences[s.aud]! : [];
  return scopesWithin(s.scope, allowed);
}
