import type { JWTPayload } from 'jose';
import { ID_JAG_TYP, MAX_SUBJECT_LENGTH, parseScope } from 'agent-sts-gate/protocol';
import { invalidGrant } from '../../errors.js';
import type { UpstreamProfile } from './verify.js';

/**
 * The longest an ID-JAG may live (exp − iat). IdPs issue them for minutes; a longer one is
 * refused, which also bounds how long its jti is remembered.
 */
export const MAX_ID_JAG_LIFETIME_SECONDS = 1_800;
/** Longest jti accepted (it is recorded in the audit trail and hashed into the replay key). */
export const MAX_ID_JAG_JTI_LENGTH = 255;
/** Most resource indicators one ID-JAG may name. */
export const MAX_ID_JAG_RESOURCES = 16;

/** An ID-JAG as the jwt-bearer grant works with it, verified. */
export interface IdJag {
  /** The user, as the IdP names them. */
  sub: string;
  /** The client at this server the IdP vouches the user to: must be the authenticated agent. */
  clientId: string;
  jti: string;
  exp: number;
  /** RFC 8707 resource indicators the user may reach through it (at least one). */
  resources: string[];
  /** What the IdP granted: every token issued from it stays within this. */
  scope: string[];
  /** The DPoP key thumbprint the IdP bound it to (`cnf.jkt`), if any. */
  jkt?: string;
}

const refused = (what: string) => invalidGrant(`assertion rejected: ${what}`).because('assertion_invalid');

function stringClaim(payload: JWTPayload, name: string, max: number): string {
  const v: unknown = payload[name];
  if (typeof v !== 'string' || v === '' || v.length > max) throw refused(`${name} must be a string of 1 to ${max} characters`);
  return v;
}

/** `resource`: one URI or an array of them (draft §3.1), each absolute without a fragment (RFC 8707 §2). */
function resourcesOf(payload: JWTPayload): string[] {
  const raw: unknown = payload.resource;
  // Without one, the IdP did not say which resource the user may reach: nothing is granted on a guess.
  if (raw === undefined) throw invalidGrant('assertion names no resource').because('assertion_no_resource');
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0 || list.length > MAX_ID_JAG_RESOURCES) throw refused(`resource must name 1 to ${MAX_ID_JAG_RESOURCES} resources`);
  for (const r of list) {
    if (typeof r !== 'string' || !URL.canParse(r) || r.includes('#')) throw refused('resource must be absolute URIs without a fragment');
  }
  return [...new Set(list as string[])];
}

function jktOf(payload: JWTPayload): string | undefined {
  const cnf: unknown = payload.cnf;
  if (cnf === undefined) return undefined;
  const jkt: unknown = cnf && typeof cnf === 'object' ? (cnf as { jkt?: unknown }).jkt : undefined;
  // a confirmation this server cannot check (x5t#S256, jwk) is refused, never ignored
  if (typeof jkt !== 'string' || jkt === '') throw refused('cnf must carry a jkt');
  return jkt;
}

function idJagClaims(payload: JWTPayload): IdJag {
  // draft §4.4.1: aud may be an array, of exactly one element (jose has checked it names this server)
  if (Array.isArray(payload.aud) && payload.aud.length !== 1) throw refused('aud must name this server alone');
  const iat = payload.iat!;
  const exp = Math.floor(payload.exp!);
  if (exp - iat > MAX_ID_JAG_LIFETIME_SECONDS) throw invalidGrant(`assertion lives longer than ${MAX_ID_JAG_LIFETIME_SECONDS} s`).because('assertion_too_long_lived');
  if (typeof payload.scope !== 'string') throw invalidGrant('assertion grants no scope').because('assertion_no_scope');
  const jkt = jktOf(payload);
  return {
    sub: stringClaim(payload, 'sub', MAX_SUBJECT_LENGTH),
    clientId: stringClaim(payload, 'client_id', MAX_SUBJECT_LENGTH),
    jti: stringClaim(payload, 'jti', MAX_ID_JAG_JTI_LENGTH),
    exp,
    resources: resourcesOf(payload),
    scope: parseScope(payload.scope),
    ...(jkt ? { jkt } : {}),
  };
}

/**
 * draft-ietf-oauth-identity-assertion-authz-grant §3 and §4.4.1: an ID-JAG signed by a trusted issuer that
 * accepts `id-jag`, typed `oauth-id-jag+jwt` (RFC 8725 §3.11), naming this server (`issuer`) as
 * its audience, with `sub`, `client_id`, `jti`, `iat`, `exp`, `resource` and `scope`; presented by
 * an agent the issuer lists. `client_id` = the presenting agent and the jti's single use are the
 * grant's checks (src/oauth/grants/jwt-bearer.ts).
 */
export function idJagProfile(issuer: string): UpstreamProfile<IdJag> {
  return {
    kind: 'id-jag',
    name: 'assertion',
    reasonPrefix: 'assertion',
    audience: () => issuer,
    requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
    header(header) {
      const typ = header.typ?.toLowerCase();
      if (typ !== ID_JAG_TYP && typ !== `application/${ID_JAG_TYP}`) {
        throw invalidGrant(`assertion is not an ID-JAG (typ ${ID_JAG_TYP})`).because('assertion_wrong_type');
      }
    },
    claims: idJagClaims,
    admit(trusted, agentId) {
      if (!trusted.agents.includes(agentId)) {
        throw invalidGrant('the issuer may not vouch for this agent', `${trusted.issuer} may not vouch for agent ${agentId}`).because('not_allowed_for_issuer');
      }
    },
  };
}
