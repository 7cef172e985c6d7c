import type { JWK } from 'jose';

/** The two kinds of client: agents obtain tokens, resource servers introspect them. */
export type ClientKind = 'agent' | 'resourceServer';

/** One stored secret of a client (the live registry keeps several during a rotation's overlap). */
export interface ClientSecret {
  id: string;
  hash: string;
  /** After this (ms) the secret no longer authenticates; absent: until removed. */
  expiresMs?: number;
}

export interface Agent {
  id: string;
  /** A human-readable name (SCIM displayName). */
  displayName?: string;
  /** The provisioning client's (the IdP's) own id for the agent (SCIM externalId). */
  externalId?: string;
  owner?: string;
  description?: string;
  secretHash?: string;
  /** Live registry: every secret that may authenticate (secretHash is then absent). */
  secrets?: ClientSecret[];
  jwks?: { keys: JWK[] };
  /** Target (resource indicator or audience) → scopes the agent may hold there. */
  audiences: Record<string, string[]>;
  maxTokenTtlSeconds: number;
  maxDelegationDepth: number;
  /** The grant types it may use at the token endpoint (`client_credentials`, the token-exchange URN). */
  grantTypes: string[];
  /** Agents allowed to exchange this agent's tokens for delegated ones. */
  delegates: string[];
  disabled: boolean;
  /** Every token of this agent must be DPoP-bound (RFC 9449): a token request without a proof is refused. */
  requireDpop: boolean;
}

export interface ResourceServer {
  id: string;
  secretHash?: string;
  secrets?: ClientSecret[];
  jwks?: { keys: JWK[] };
  scopes: string[];
}

/**
 * The kinds of token a trusted issuer may be trusted for: RFC 8693 subject tokens (on-behalf-of) and
 * ID-JAGs (the jwt-bearer grant, draft-ietf-oauth-identity-assertion-authz-grant).
 */
export const UPSTREAM_TOKEN_KINDS = ['subject-token', 'id-jag'] as const;
export type UpstreamTokenKind = (typeof UPSTREAM_TOKEN_KINDS)[number];

export interface TrustedIssuer {
  issuer: string;
  jwksUri?: string;
  jwks?: { keys: JWK[] };
  /** What this issuer's subject tokens must name in `aud` to be exchanged here (required when it accepts them). */
  audience?: string;
  /** The kinds of token of this issuer agent-sts accepts (a kind not listed is refused before any key is fetched). */
  accepts: UpstreamTokenKind[];
  /** Agents this issuer may vouch for: exchange its users' tokens, present its ID-JAGs. */
  agents: string[];
  algorithms: string[];
}

/**
 * Who may ask for what: the file, or the live registry's in-process copy. Lookups are synchronous:
 * they sit on every issuance and introspection (the chain rule reads every agent on a delegation
 * chain), and an in-process map answers without a round trip or a microtask per agent.
 */
export interface Registry {
  agent(id: string): Agent | undefined;
  resourceServer(id: string): ResourceServer | undefined;
  trustedIssuer(issuer: string): TrustedIssuer | undefined;
  /** Every agent, for the access review (a registry that cannot list them leaves it out). */
  agents?(): Agent[];
  /** Every resource server, for the access review's probe findings (likewise optional). */
  resourceServers?(): ResourceServer[];
  /** A credential authenticated (live registry: its coarse lastUsed, written off the request). */
  credentialUsed?(kind: ClientKind, clientId: string, credentialId: string): void;
}

/** The audience of the admin API, and the scopes it knows. */
export { ADMIN_AUDIENCE } from 'agent-sts-gate/protocol';
export const ADMIN_SCOPES = ['sessions:read', 'sessions:kill', 'agents:read', 'agents:manage', 'audit:read', 'scim:provision'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];
