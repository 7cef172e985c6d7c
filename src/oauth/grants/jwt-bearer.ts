import { CLOCK_TOLERANCE_SECONDS, type DpopConfirmation, GRANT_TYPES, ID_JAG_PROFILE, parseScope } from 'agent-sts-gate/protocol';
import { assertionId } from '../../clients/authenticate.js';
import { invalidGrant, invalidRequest, invalidScope, invalidTarget, OAuthError } from '../../errors.js';
import { entitlement, rootGrant } from '../../sessions/attenuate.js';
import type { SessionService } from '../../sessions/service.js';
import type { ReplayStore } from '../../store/index.js';
import { param, requireParam, type OAuthRequest } from '../request.js';
import { namedTargets } from '../targets.js';
import { tokenResponse } from '../token-response.js';
import type { IdJag } from '../upstream/id-jag.js';
import type { UpstreamVerifier } from '../upstream/verify.js';
import type { TokenGrant } from './types.js';

export interface JwtBearerDeps {
  sessions: Pick<SessionService, 'issue'>;
  /** Where an ID-JAG's jti is spent (the `id-jag` space). */
  replay: ReplayStore;
  /** A trusted issuer's ID-JAG (src/oauth/upstream/id-jag.ts), over the shared key sets. */
  assertions: UpstreamVerifier<IdJag>;
}

/**
 * The token's audience: the resource the request names (`resource` or `audience`), which must be
 * one the ID-JAG grants, or, when it names none, the ID-JAG's only resource.
 */
function grantedTarget(req: OAuthRequest, resources: readonly string[]): string {
  const named = namedTargets(req);
  if (named.length > 1) throw invalidTarget('name at most one resource or audience');
  if (named.length === 1) {
    if (!resources.includes(named[0]!)) throw invalidTarget('the assertion does not grant this resource').because('target_not_in_assertion');
    return named[0]!;
  }
  if (resources.length !== 1) throw invalidTarget('the assertion names several resources: name one').because('target_ambiguous');
  return resources[0]!;
}

/**
 * MCP enterprise-managed authorization §7.2.1: the request's scope (absent: all the ID-JAG grants)
 * ∩ the ID-JAG's ∩ the agent's entitlement at the target. Never widening; the response's `scope`
 * says what was granted; nothing left is invalid_scope.
 */
function grantedScope(raw: string | undefined, asserted: readonly string[], entitled: readonly string[]): string[] {
  const requested = raw === undefined ? asserted : parseScope(raw);
  if (requested.length === 0) throw invalidRequest('scope must name at least one scope');
  const inAssertion = requested.filter((s) => asserted.includes(s));
  if (inAssertion.length === 0) throw invalidScope(`scope not within what the assertion grants: ${requested.join(' ')}`).because('scope_not_in_assertion');
  const granted = inAssertion.filter((s) => entitled.includes(s));
  if (granted.length === 0) throw invalidScope(`scope not within the agent's entitlement: ${inAssertion.join(' ')}`).because('scope_not_entitled');
  return granted;
}

/**
 * The store failed after the jti was spent: still 503, nothing issued, and the answer says what
 * changed. A retry with the same ID-JAG would be refused as replayed, so the client gets a new one
 * (spending it again is never done: the store may have stored the session before it failed to answer).
 */
function spentOn503(err: unknown): never {
  // The jti is spent: a retry with this ID-JAG is refused as replayed, so no answer may invite one.
  if (err instanceof OAuthError && err.reason === 'agent_revoked') {
    const raced = invalidGrant('the agent\'s sessions were revoked while this request was in flight: retry with a new ID-JAG from your IdP');
    raced.cause = err;
    throw raced.because('agent_revoked');
  }
  if (err instanceof OAuthError && err.status === 503) {
    const spent = new OAuthError(503, 'temporarily_unavailable', 'unavailable after the assertion was used: retry with a new ID-JAG from your IdP', err.headers, err.detail);
    spent.cause = err;
    throw spent.because('assertion_spent_unavailable');
  }
  throw err;
}

/** draft §8.6.1 (sender-constrained ID-JAGs): one bound by its IdP (`cnf.jkt`) needs a DPoP proof of that key. */
function checkBinding(jkt: string | undefined, cnf: DpopConfirmation | undefined): void {
  if (jkt === undefined) return;
  if (!cnf) throw invalidGrant('the assertion is bound to a key: the request needs a DPoP proof of it').because('dpop_required');
  if (cnf.jkt !== jkt) throw invalidGrant("the DPoP proof's key is not the key the assertion is bound to").because('dpop_key_mismatch');
}

/**
 * RFC 7523 §2.1 with draft-ietf-oauth-identity-assertion-authz-grant (ID-JAG): an agent the user
 * signed in to through a trusted IdP presents the IdP's ID-JAG and gets a new root session on
 * behalf of that user, the agent as actor (as on-behalf-of does). The jti is spent last, once
 * every other check passed: a refused request leaves the ID-JAG unspent.
 */
export function jwtBearerGrant({ sessions, replay, assertions }: JwtBearerDeps): TokenGrant {
  const grantType = GRANT_TYPES.jwtBearer;
  return {
    grantType,
    parameters: ['assertion', 'scope', 'resource', 'audience'],
    repeatable: ['resource', 'audience'],
    profiles: [ID_JAG_PROFILE],
    async handle(req, agent, cnf) {
      const idJag = await assertions(requireParam(req, 'assertion'), agent.id);
      if (idJag.clientId !== agent.id) {
        throw invalidGrant('the assertion was issued for another client', `client_id ${idJag.clientId}, authenticated ${agent.id}`).because('client_id_mismatch');
      }
      checkBinding(idJag.jkt, cnf);
      const target = grantedTarget(req, idJag.resources);
      const scope = grantedScope(param(req, 'scope'), idJag.scope, entitlement(agent, target));
      const nowMs = req.context.startedMs;
      const nowS = Math.floor(nowMs / 1000);
      // Inside the clock leeway a just-expired ID-JAG still verifies; it must not yield a dead token.
      if (idJag.exp <= nowS) throw invalidGrant('assertion has expired').because('assertion_expired');
      const grant = rootGrant(agent, target, scope, nowS, { sub: idJag.sub, act: { sub: agent.id } });
      const iss = idJag.issuer.issuer;
      const rememberUntilMs = (idJag.exp + CLOCK_TOLERANCE_SECONDS) * 1000;
      if (!(await replay.useOnce('id-jag', assertionId(iss, idJag.jti), rememberUntilMs, nowMs))) {
        throw invalidGrant('assertion was already used').because('assertion_replayed');
      }
      const issued = await sessions.issue(
        { ...grant, exp: Math.min(grant.exp, idJag.exp), assertion: { iss, jti: idJag.jti }, ...(cnf ? { cnf } : {}) }, grantType, req.context,
      ).catch(spentOn503);
      return tokenResponse(issued, nowMs, { resource: target });
    },
  };
}
