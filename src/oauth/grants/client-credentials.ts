import { GRANT_TYPES, parseScope } from 'agent-sts-gate/protocol';
import { invalidRequest, invalidScope } from '../../errors.js';
import { entitlement, rootGrant } from '../../sessions/attenuate.js';
import type { SessionService } from '../../sessions/service.js';
import { param } from '../request.js';
import { singleTarget } from '../targets.js';
import { tokenResponse } from '../token-response.js';
import type { TokenGrant } from './types.js';

/**
 * RFC 6749 §3.3, never widening: no `scope` (absent or sent empty, RFC 6749 §3.2) means the agent's
 * whole entitlement at the target (the registry's pre-defined default); a request wider than the
 * entitlement gets the part it is entitled to, and the response's `scope` says what was granted. A
 * request naming nothing it is entitled to is invalid_scope; a scope of only spaces is malformed.
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

export interface ClientCredentialsDeps {
  sessions: Pick<SessionService, 'issue' | 'now'>;
}

/** RFC 6749 §4.4: a per-task token and a new root session, one audience, a scope within the agent's entitlement. */
export function clientCredentialsGrant({ sessions }: ClientCredentialsDeps): TokenGrant {
  const grantType = GRANT_TYPES.clientCredentials;
  return {
    grantType,
    parameters: ['scope', 'resource', 'audience'],
    repeatable: ['resource', 'audience'],
    async handle(req, agent, cnf) {
      const target = singleTarget(req);
      const scope = grantedScope(param(req, 'scope'), entitlement(agent, target));
      const nowMs = req.context.startedMs;
      const grant = rootGrant(agent, target, scope, Math.floor(nowMs / 1000));
      const issued = await sessions.issue(cnf ? { ...grant, cnf } : grant, grantType, req.context);
      return tokenResponse(issued, nowMs);
    },
  };
}
