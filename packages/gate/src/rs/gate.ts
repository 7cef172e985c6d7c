import type { AuthInfo } from '../protocol/claims.js';
import { systemClock, type Clock } from '../protocol/clock.js';
import { unexpired } from '../protocol/expiry.js';
import { missingScopes, parseScope } from '../protocol/scope.js';
import { MAX_TOKEN_LENGTH } from '../protocol/tokens.js';
import type { CheckedClaims } from './claims.js';
import { issuerMetadata } from './discovery.js';
import { dpopVerifier, type DpopVerifier } from './dpop.js';
import { httpClient } from './http.js';
import { introspector, type RsCredentials } from './introspect.js';
import { localVerifier, type RevokedSessions } from './local.js';
import { resourceMetadataUrl } from './metadata.js';
import { insufficientScope, invalidToken, Refusal } from './refusal.js';
import { revocationFeed, type RevocationFeed } from './revocations.js';

const DEFAULT_TIMEOUT_MS = 5_000;

interface CommonOptions {
  /** The agent-sts issuer URL; its metadata is discovered by RFC 8414. */
  issuer: string;
  /** This resource server's identifier: a token addressed to anyone else is refused, always. */
  audience: string;
  /** Every scope the route requires. */
  scopes?: string[];
  /** Defaults to the RFC 9728 path-suffixed URL of `audience`. */
  resourceMetadataUrl?: string;
  /** Defaults to `audience`. */
  realm?: string;
  /** For the authorization server's metadata, /introspect and the JWKS; default 5000. */
  timeoutMs?: number;
  /** Defaults to this version's DPoP check. */
  dpop?: DpopVerifier;
  /**
   * Kills heard from agent-sts (SSF poll, CAEP session-revoked). Default: a feed of the gate's own
   * whenever it has credentials and something to use it for (local mode; introspect mode with a
   * cache). Share one feed between gates by passing it; `false`: none.
   */
  revocations?: RevocationFeed | false;
  /** The gate's own feed: without a poll answer for this long it is stale (see revocationFeed). */
  revocationsStaleAfterMs?: number;
  /** Where the gate (its expiry checks, cache, DPoP window, own feed) reads "now"; default the wall clock. */
  clock?: Clock;
}

type RsKey = Extract<RsCredentials, { privateKey: unknown }>['privateKey'];
/** The resource server's credentials at /introspect and /ssf/poll. */
type Credentials =
  | { clientId?: string; clientSecret: string }
  | { clientId?: string; privateKey: RsKey; alg: string; kid?: string };

export type IntrospectModeOptions = CommonOptions & {
  mode?: 'introspect';
  /** Opt-in: how long a positive answer may be reused. A kill is then seen up to this late. Default 0. */
  cacheMaxAgeSeconds?: number;
  cacheMaxEntries?: number;
} & Credentials;

export type LocalModeOptions = CommonOptions & {
  mode: 'local';
  /** Another source of killed sessions, asked beside the feed. */
  isRevoked?: RevokedSessions;
} & (
  /**
   * With credentials, local mode hears kills by the revocation feed and, while the feed is stale,
   * introspects instead (never "trust"). Without, it cannot see kills: a token stays valid until its exp.
   */
  Credentials | { clientSecret?: undefined; privateKey?: undefined }
);

export type GateOptions = IntrospectModeOptions | LocalModeOptions;

/** How the token arrived, as the DPoP check needs it. */
export interface Presented {
  scheme: 'bearer' | 'dpop';
  token: string;
  proof: string | undefined;
  method: string;
  url: string;
}

export interface Gate {
  realm: string;
  resourceMetadataUrl: string;
  scopes: string[];
  /** The caller's AuthInfo, or a Refusal saying how to answer. */
  verify(p: Presented): Promise<AuthInfo>;
  /** Closes the gate's connections and its own feed (a feed passed in stays open). */
  close(): void;
}

function credentialsOf(options: GateOptions): RsCredentials | undefined {
  const o = options as CommonOptions & Partial<{ clientId: string; clientSecret: string; privateKey: RsKey; alg: string; kid: string }>;
  const clientId = o.clientId ?? o.audience;
  if (o.clientSecret !== undefined) return { clientId, clientSecret: o.clientSecret };
  if (o.privateKey !== undefined && o.alg !== undefined) return { clientId, privateKey: o.privateKey, alg: o.alg, ...(o.kid ? { kid: o.kid } : {}) };
  return undefined;
}

/** The gate's own feed: when `revocations` is unset, and it has credentials and a use for one. */
function ownFeed(o: GateOptions, credentials: RsCredentials | undefined, timeoutMs: number, clock: Clock): RevocationFeed | undefined {
  const useful = o.mode === 'local' || (o.cacheMaxAgeSeconds ?? 0) > 0;
  if (o.revocations !== undefined || !credentials || !useful) return undefined;
  return revocationFeed({
    issuer: o.issuer, audience: o.audience, credentials, timeoutMs, clock, ...(o.revocationsStaleAfterMs ? { staleAfterMs: o.revocationsStaleAfterMs } : {}),
  });
}

function authInfo(token: string, c: CheckedClaims, audience: string): AuthInfo {
  return {
    token,
    clientId: c.client_id,
    scopes: parseScope(c.scope),
    expiresAt: c.exp,
    resource: new URL(audience),
    extra: { sub: c.sub, sid: c.sid, ...(c.act ? { act: c.act } : {}), ...(c.cnf ? { cnf: c.cnf } : {}) },
  };
}

/** The checks both the express middleware and the MCP verifier run, in one place. */
export function tokenGate(o: GateOptions): Gate {
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const clock = o.clock ?? systemClock;
  const http = httpClient();
  const metadata = issuerMetadata(o.issuer, timeoutMs);
  const credentials = credentialsOf(o);
  const own = ownFeed(o, credentials, timeoutMs, clock);
  const feed = own ?? (o.revocations || undefined);
  const introspect = (cacheMaxAgeSeconds: number) => introspector({
    issuer: o.issuer, credentials: credentials!, metadata, http, clock, timeoutMs, cacheMaxAgeSeconds,
    ...(o.mode !== 'local' && o.cacheMaxEntries ? { cacheMaxEntries: o.cacheMaxEntries } : {}), ...(feed ? { feed } : {}),
  });
  let claimsOf: (token: string) => Promise<CheckedClaims>;
  if (o.mode === 'local') {
    const hook = o.isRevoked;
    const isRevoked: RevokedSessions | undefined = feed ? async (sid) => feed.isRevoked(sid) || (hook !== undefined && (await hook(sid))) : hook;
    const local = localVerifier({ issuer: o.issuer, audience: o.audience, metadata, clock, timeoutMs, ...(isRevoked ? { isRevoked } : {}) });
    // A stale feed may have missed a kill: introspect until it is fresh again.
    const fallback = feed && introspect(0);
    claimsOf = fallback
      ? (token) => {
        if (feed!.fresh()) return local(token);
        feed!.fellBack();
        return fallback(token);
      }
      : local;
  } else {
    claimsOf = introspect(o.cacheMaxAgeSeconds ?? 0);
  }
  const dpop = o.dpop ?? dpopVerifier({ nowMs: () => clock.nowMs() });
  const scopes = o.scopes ?? [];
  return {
    realm: o.realm ?? o.audience,
    resourceMetadataUrl: o.resourceMetadataUrl ?? resourceMetadataUrl(o.audience),
    scopes,
    async verify(p) {
      feed?.start();
      if (p.token.length > MAX_TOKEN_LENGTH) throw invalidToken('the token is not one this server accepts');
      const c = await claimsOf(p.token);
      // Introspection already answers only the token's own audience; checked again here, always.
      if (c.aud !== o.audience) throw invalidToken('the token is not addressed to this resource');
      if (c.iss !== o.issuer) throw invalidToken('the token is from another issuer');
      if (!unexpired(c.exp, clock.nowMs())) throw invalidToken('the token has expired');
      const outcome = await dpop.check({ scheme: p.scheme, proof: p.proof, method: p.method, url: p.url, accessToken: p.token, jkt: c.cnf?.jkt });
      if (!outcome.ok) throw new Refusal(401, outcome.error, outcome.description, 'DPoP');
      const missing = missingScopes(scopes, parseScope(c.scope));
      if (missing.length) throw insufficientScope(`the token lacks scope ${missing.join(' ')}`);
      return authInfo(p.token, c, o.audience);
    },
    close() {
      own?.close();
      http.close();
    },
  };
}
