import type { JWTPayload } from 'jose';
import { ACCESS_TOKEN_TYP, MAX_SUBJECT_LENGTH, parseScope } from 'agent-sts-gate/protocol';
import { invalidGrant } from '../../errors.js';
import { upstreamVerifier, type UpstreamDeps, type UpstreamProfile, type UpstreamVerifier } from './verify.js';

/** A user's token from a trusted issuer, as the on-behalf-of exchange uses it. */
export interface UserToken {
  sub: string;
  exp: number;
  /** What the user granted: every token exchanged from it stays within this. */
  scope: string[];
}

/** RFC 8693 §3: the subject_token_type values a trusted issuer's token may be labelled with. */
export type SubjectTokenType = 'access_token' | 'jwt';

/**
 * RFC 8693's subject token from a trusted issuer (on-behalf-of): a user's access token naming the
 * issuer's configured `audience`, with `sub`, `exp` and a `scope` claim. Requiring `scope` also
 * refuses ID tokens and other JWTs that grant nothing, whatever they are labelled with; labelled
 * `access_token`, its header must say so (RFC 9068 `typ: at+jwt`). The agents the issuer lists may present it.
 */
function subjectTokenProfile(type: SubjectTokenType): UpstreamProfile<UserToken> {
  return {
    kind: 'subject-token',
    name: 'subject token',
    reasonPrefix: 'subject',
    // the registry requires an audience of every issuer that accepts subject tokens (registry-file.ts)
    audience: (issuer) => issuer.audience!,
    requiredClaims: ['sub', 'exp'],
    ...(type === 'access_token'
      ? {
          header(header) {
            const typ = header.typ?.toLowerCase();
            if (typ !== ACCESS_TOKEN_TYP && typ !== `application/${ACCESS_TOKEN_TYP}`) {
              throw invalidGrant(`subject token is not an RFC 9068 access token (typ ${ACCESS_TOKEN_TYP})`).because('subject_not_access_token');
            }
          },
        }
      : {}),
    claims: userClaims,
    admit(issuer, agentId) {
      if (!issuer.agents.includes(agentId)) {
        throw invalidGrant('the agent may not act for users of this issuer', `agent ${agentId} may not act for ${issuer.issuer} users`).because('not_allowed_for_issuer');
      }
    },
  };
}

function userClaims(payload: JWTPayload): UserToken {
  if (typeof payload.scope !== 'string') throw invalidGrant('subject token grants no scope (not an access token)').because('subject_not_access_token');
  // RFC 7519 §4.1.2: sub is a StringOrURI; jose checks its type only when told which subject to expect.
  const sub: unknown = payload.sub;
  if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUBJECT_LENGTH) {
    throw invalidGrant(`subject token's sub must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`).because('subject_invalid');
  }
  // RFC 7519 §2 allows a fractional NumericDate; everything agent-sts stores and answers is whole seconds.
  return { sub, exp: Math.floor(payload.exp!), scope: parseScope(payload.scope) };
}

export const SUBJECT_TOKEN_PROFILES: Readonly<Record<SubjectTokenType, UpstreamProfile<UserToken>>> = {
  access_token: subjectTokenProfile('access_token'),
  jwt: subjectTokenProfile('jwt'),
};

/** The user tokens the token-exchange grant accepts, by subject_token_type, over the shared key sets. */
export type SubjectTokenVerifiers = Readonly<Record<SubjectTokenType, UpstreamVerifier<UserToken>>>;

export const subjectTokenVerifiers = (deps: UpstreamDeps): SubjectTokenVerifiers => ({
  access_token: upstreamVerifier(SUBJECT_TOKEN_PROFILES.access_token, deps),
  jwt: upstreamVerifier(SUBJECT_TOKEN_PROFILES.jwt, deps),
});
