import { invalidRequest, invalidScope } from '../../errors.js';
import { parseScope } from '../../protocol/scope.js';
import { GRANT_TYPES } from '../../protocol/tokens.js';
import { entitlement, rootGrant } from '../../sessions/attenuate.js';
import { singleTarget } from '../targets.js';
import { tokenResponse } from '../token-response.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 §3.3, never widening: no `scope` parameter means the agent's whole entitlement at the
 * target (the registry's pre-defined default); a request wider than the entitlement gets the part
 * it is entitled to, and the response's `scope` says what was granted. A request naming nothing it
 * is entitled to is invalid_scope; an empty `scope` parameter is malformed.
 */
function grantedScope(raw: string | undefined, entitled: string[]): string[] {
  if (raw === undefined) return entitled;
  const requested = parseScope(raw);
  if (requested.length === 0) throw invalidRequest('scope must name at least one scope');
  const allowed = new Set(entitled);
  const granted = requested.filter((s) => allowed.has(s));
  if (granted.length === 0) throw invalidScope(`scope not within the agent's entitlement: ${requested.join(' ')}`).because('scope_not_entitled');
  return granted;
}

/** A per-task token and a new root session: one audience, a scope within the agent's entitlement. */
export const clientCredentials: GrantHandler = {
  grantType: GRANT_TYPES.clientCredentials,
  parameters: ['scope', 'resource', 'audience'],
  async handle(ctx, req, agent, cnf) {
    const target = singleTarget(req);
    const scope = grantedScope(req.params.get('scope')?.[0], entitlement(agent, target));
    const nowMs = ctx.sessions.now();
    const grant = rootGrant(agent, target, scope, Math.floor(nowMs / 1000));
    const issued = await ctx.sessions.issue(cnf ? { ...grant, cnf } : grant, this.grantType, req.context);
    return tokenResponse(issued, nowMs);
  },
};
