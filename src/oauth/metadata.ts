import { ASYMMETRIC_ALGORITHMS, DPOP_SIGNING_ALGORITHMS } from 'agent-sts-gate/protocol';
import { AUTH_METHODS } from '../clients/authenticate.js';
import type { GrantList } from './grants/list.js';

export interface Endpoints {
  issuer: string;
  /** Answers every request with unsupported_response_type; listed because MCP clients require the field. */
  authorization: string;
  token: string;
  introspection: string;
  revocation: string;
  jwks: string;
}

export function endpointsOf(issuer: string): Endpoints {
  return {
    issuer,
    authorization: `${issuer}/authorize`,
    token: `${issuer}/token`,
    introspection: `${issuer}/introspect`,
    revocation: `${issuer}/revoke`,
    jwks: `${issuer}/jwks`,
  };
}

/** RFC 8414 authorization server metadata; `grants`: the grant list's types and profiles (deps.ts). */
export function serverMetadata(e: Endpoints, grants: Pick<GrantList, 'types' | 'profiles'>): Record<string, unknown> {
  return {
    issuer: e.issuer,
    // RFC 8414 makes it optional without interactive grants, but the MCP SDK's client refuses
    // metadata without one; it exists and refuses everything (response_types_supported is empty).
    authorization_endpoint: e.authorization,
    token_endpoint: e.token,
    introspection_endpoint: e.introspection,
    revocation_endpoint: e.revocation,
    jwks_uri: e.jwks,
    grant_types_supported: grants.types,
    ...(grants.profiles.length ? { authorization_grant_profiles_supported: grants.profiles } : {}),
    response_types_supported: [],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGORITHMS,
    introspection_endpoint_auth_methods_supported: AUTH_METHODS,
    introspection_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGORITHMS,
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGORITHMS,
    dpop_signing_alg_values_supported: DPOP_SIGNING_ALGORITHMS,
  };
}
