import type { Agent, Registry } from '../../clients/types.js';
import type { DpopConfirmation } from '../../protocol/dpop.js';
import type { SessionService } from '../../sessions/service.js';
import type { UpstreamVerifier } from '../upstream.js';
import type { OAuthRequest, OAuthResponse } from '../request.js';

export interface GrantContext {
  registry: Registry;
  sessions: SessionService;
  upstream: UpstreamVerifier;
}

/** One module per grant, as in oidc-provider: its type, the parameters it reads, its handler. */
export interface GrantHandler {
  grantType: string;
  parameters: readonly string[];
  /** `cnf`: the DPoP key the new token is bound to (src/oauth/dpop.ts); undefined for a bearer token. */
  handle(ctx: GrantContext, req: OAuthRequest, agent: Agent, cnf: DpopConfirmation | undefined): Promise<OAuthResponse>;
}
