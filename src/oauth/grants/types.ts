import type { DpopConfirmation } from 'agent-sts-gate/protocol';
import type { Agent } from '../../clients/types.js';
import type { OAuthRequest, OAuthResponse } from '../request.js';

/**
 * One grant, as in oidc-provider and fosite: its type, the parameters it defines, its handler. A
 * grant module exports a factory that closes over only what the grant needs (its stores, its
 * upstream profile); deps.ts builds the one list of what is offered (grants/list.ts).
 */
export interface TokenGrant {
  readonly grantType: string;
  /**
   * The parameters this grant defines beyond the endpoint's own (grant_type, client authentication):
   * the token endpoint refuses one of them repeated unless it is `repeatable`, and ignores any
   * parameter neither defines (RFC 6749 §3.2, erratum 5708).
   */
  readonly parameters: readonly string[];
  /** Defined parameters that may repeat (RFC 8707 `resource`, RFC 8693 `audience`). */
  readonly repeatable?: readonly string[];
  /** Authorization grant profiles it implements, for the metadata's `authorization_grant_profiles_supported` (the ID-JAG's). */
  readonly profiles?: readonly string[];
  /** `cnf`: the DPoP key the new token is bound to (src/oauth/dpop.ts); undefined for a bearer token. */
  handle(req: OAuthRequest, agent: Agent, cnf: DpopConfirmation | undefined): Promise<OAuthResponse>;
}
