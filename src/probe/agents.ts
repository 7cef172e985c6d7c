import { createHash } from 'node:crypto';
import { GRANT_TYPES } from 'agent-sts-gate/protocol';

/**
 * The probe's agents for one resource server: real registered agents, entitled only there (and at
 * an audience no resource server has, for the other-audience case), so their tokens are exactly
 * what an agent gets and their usage is theirs alone. Made on the first probe, reset on each.
 */

/** Every probe agent's id starts with this; its owner says what it is. */
export const PROBE_AGENT_PREFIX = 'agent-sts-probe.';
export const PROBE_OWNER = 'agent-sts enforcement probe';
/** No resource server answers to this: a token for it is a token for another audience. */
export const OTHER_AUDIENCE = 'urn:agent-sts:probe:other-audience';
const OTHER_AUDIENCE_SCOPE = 'probe';
/** Long enough for the slowest case's waits; a kill ends every session when the probe ends anyway. */
const PROBE_TOKEN_TTL_SECONDS = 900;
/** The expired case's token: a second, waited out. */
export const EXPIRING_TOKEN_TTL_SECONDS = 1;
/** Hex characters of the resource server id's SHA-256 in the agents' ids. */
const ID_HASH_CHARS = 16;

/** What the admin API's agent create (and PATCH) body says of a probe agent. */
export interface ProbeAgentSpec {
  id: string;
  owner: string;
  description: string;
  audiences: Record<string, string[]>;
  maxTokenTtlSeconds: number;
  maxDelegationDepth: number;
  grantTypes: string[];
  delegates: string[];
}

export interface ProbeAgents {
  /** Gets the baseline and most tokens; delegates to `delegate`; disabled in the disabled_delegator case. */
  main: ProbeAgentSpec;
  /** Its own root token is the one killed; its exchanged token is the disabled delegator's chain. */
  delegate: ProbeAgentSpec;
  /** Gets the 1-second token. */
  expiring: ProbeAgentSpec;
}

export const probeAgentBase = (resourceServer: string) =>
  `${PROBE_AGENT_PREFIX}${createHash('sha256').update(resourceServer).digest('hex').slice(0, ID_HASH_CHARS)}`;

/** The three agents, entitled at `resourceServer` with `scopes` (main: `mainScopes`, which may add one for the missing-scope case). */
export function probeAgents(resourceServer: string, scopes: string[], mainScopes: string[]): ProbeAgents {
  const base = probeAgentBase(resourceServer);
  const description = `enforcement probe of ${resourceServer}`;
  const common = { owner: PROBE_OWNER, description, maxTokenTtlSeconds: PROBE_TOKEN_TTL_SECONDS };
  const delegate: ProbeAgentSpec = {
    ...common, id: `${base}.delegate`, audiences: { [resourceServer]: scopes }, maxDelegationDepth: 1,
    grantTypes: [GRANT_TYPES.clientCredentials, GRANT_TYPES.tokenExchange], delegates: [],
  };
  return {
    main: {
      ...common, id: base, audiences: { [resourceServer]: mainScopes, [OTHER_AUDIENCE]: [OTHER_AUDIENCE_SCOPE] }, maxDelegationDepth: 1,
      grantTypes: [GRANT_TYPES.clientCredentials], delegates: [delegate.id],
    },
    delegate,
    expiring: {
      ...common, id: `${base}.expiring`, audiences: { [resourceServer]: scopes }, maxTokenTtlSeconds: EXPIRING_TOKEN_TTL_SECONDS,
      maxDelegationDepth: 0, grantTypes: [GRANT_TYPES.clientCredentials], delegates: [],
    },
  };
}
