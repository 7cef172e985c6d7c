import { invalidRequest } from '../../errors.js';
import { parseScope } from '../../protocol/scope.js';
import { GRANT_TYPES } from '../../protocol/tokens.js';
import { rootGrant } from '../../sessions/attenuate.js';
import { requireParam } from '../request.js';
import { singleTarget } from '../targets.js';
import { tokenResponse } from '../token-response.js';
import type { GrantHandler } from './types.js';

/** A per-task token and a new root session: one audience, a scope within the agent's entitlement. */
export const clientCredentials: GrantHandler = {
  grantType: GRANT_TYPES.clientCredentials,
  parameters: ['scope', 'resource', 'audience'],
  async handle(ctx, req, agent, cnf) {
    const target = singleTarget(req);
    const scope = parseScope(requireParam(req, 'scope'));
    if (scope.length === 0) throw invalidRequest('scope must name at least one scope');
    const nowMs = ctx.sessions.now();
    const grant = rootGrant(agent, target, scope, Math.floor(nowMs / 1000));
    const issued = await ctx.sessions.issue(cnf ? { ...grant, cnf } : grant, this.grantType, req.context);
    return tokenResponse(issued, nowMs);
  },
};
