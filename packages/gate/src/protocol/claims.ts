/**
 * The shapes a token's reader sees: the claims agent-sts signs into an access token (RFC 9068), the
 * body introspection answers (RFC 7662), and the AuthInfo a resource server hands its handlers (the
 * MCP SDK's shape). Nothing here imports the server: a resource-server middleware can use it alone.
 */
import type { DpopConfirmation } from './dpop.js';

/** RFC 8693 §4.1 actor claim: the current actor, with prior actors nested inside. */
export interface Actor {
  sub: string;
  act?: Actor;
}

/** The claims of an agent-sts access token: exactly one audience, a session id, `act` when delegated. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  sid: string;
  act?: Actor;
  /** RFC 9449 §6: present on a DPoP-bound token. */
  cnf?: DpopConfirmation;
}

/** RFC 7662 §2.2: what /introspect answers for a live token; anything else is exactly `{ active: false }`. */
export type IntrospectionBody = ({ active: true; token_type: 'Bearer' | 'DPoP' } & AccessTokenClaims) | { active: false };

/** The MCP SDK's AuthInfo, as a resource server hands it to its handlers. */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  /** Seconds since the epoch. */
  expiresAt?: number;
  resource?: URL;
  extra?: { sub: string; sid: string; act?: Actor; cnf?: { jkt: string } };
}
