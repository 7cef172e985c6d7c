import type { NextFunction, Request, Response } from 'express';
import { dpopVerifier, type ProofKeyCache } from 'agent-sts-gate/dpop';
import { ADMIN_AUDIENCE, type AdminScope } from '../clients/types.js';
import { bearerError, dpopError, OAuthError } from '../errors.js';
import { replayCacheOf, severalDpopHeaders } from '../oauth/dpop.js';
import type { SessionService } from '../sessions/service.js';
import type { ReplayStore, Session } from '../store/index.js';

/**
 * Who may call the admin API: a live agent-sts token for the admin audience with the right scope,
 * presented as a resource server of agent-sts tokens must take it (RFC 6750, RFC 9449 §7). A
 * DPoP-bound admin token passes only with the DPoP scheme and a proof of its key for exactly this
 * request; an unbound one only as Bearer (the DPoP scheme claims a binding it does not have).
 */

export type AdminRequest = Request & { admin?: Session; adminProofs?: AdminProofs };

type Scheme = 'bearer' | 'dpop';

/** The DPoP check of one app: the proof rules of rs/dpop.ts, the replay set /token uses, the issuer's URL. */
export interface AdminProofs {
  /** Throws the refusal (401/400 with a DPoP challenge) unless the request proves possession of `jkt`'s key. */
  check(req: Request, scheme: Scheme, token: string, jkt: string | undefined): Promise<void>;
}

export interface AdminProofContext {
  issuer: string;
  replay: ReplayStore;
  dpopKeys: ProofKeyCache;
  nowMs(): number;
}

/**
 * The admin API's proof check. `htu` is this request's URL as the issuer names it (the issuer's
 * origin and the request's path), the way /token's own URL is the issuer's and never the Host
 * header's; the proof is single-use through the store's replay set, so a proof used at one
 * instance is refused at every other; its clock window is /token's.
 */
export function adminProofs(ctx: AdminProofContext): AdminProofs {
  const origin = new URL(ctx.issuer).origin;
  const verifier = dpopVerifier({ replay: replayCacheOf(ctx.replay, ctx.nowMs), nowMs: ctx.nowMs, keys: ctx.dpopKeys });
  return {
    async check(req, scheme, token, jkt) {
      const proof = req.headers.dpop;
      if (severalDpopHeaders(proof)) throw dpopError(400, 'invalid_dpop_proof', 'send exactly one DPoP header');
      // The path only: an absolute-form request target names a host, and the host is the issuer's.
      const url = `${origin}${new URL(req.originalUrl, origin).pathname}`;
      const outcome = await verifier.check({ scheme, proof: proof as string | undefined, method: req.method, url, accessToken: token, jkt });
      if (!outcome.ok) throw dpopError(401, outcome.error, outcome.description);
    },
  };
}

/** Mounted once before every admin router: lends them this app's proof check (routers build `requireScope` without it). */
export const lendAdminProofs = (proofs: AdminProofs) => (req: AdminRequest, _res: Response, next: NextFunction) => {
  req.adminProofs = proofs;
  next();
};

const NO_TOKEN = bearerError(401, undefined, 'a bearer token is required');
/** RFC 6750 §2.1 and RFC 9449 §7.1: the scheme is case-insensitive, then one or more spaces, then a b64token. */
const AUTHORIZATION = /^(bearer|dpop) +(.+)$/i;
const B64TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/** A refusal in the scheme the token came with. */
const refusal = (scheme: Scheme, status: 401 | 403, code: 'invalid_token' | 'insufficient_scope', description: string) =>
  scheme === 'dpop' ? dpopError(status, code, description) : bearerError(status, code, description);

/**
 * The admin is itself an agent: a live agent-sts token for the admin audience, with the right scope
 * (`scope` undefined: any admin token, for what a caller may always do to its own session).
 */
export function requireScope(sessions: SessionService, scope: AdminScope | undefined) {
  return async (req: AdminRequest, _res: Response, next: NextFunction) => {
    try {
      const m = AUTHORIZATION.exec(req.headers.authorization ?? '');
      // RFC 6750 §3.1: a request without a token gets a challenge without an error code.
      if (!m) throw NO_TOKEN;
      const scheme = m[1]!.toLowerCase() as Scheme;
      const token = m[2]!;
      const session = B64TOKEN.test(token) ? await sessions.lookup(token) : undefined;
      if (!session || session.aud !== ADMIN_AUDIENCE) throw refusal(scheme, 401, 'invalid_token', 'an active admin token is required');
      // An unbound Bearer token costs nothing more than this test.
      if (session.cnf !== undefined || scheme === 'dpop') {
        // Fails closed: a router mounted without the app's proof check serves no bound token.
        if (!req.adminProofs) throw new OAuthError(500, 'server_error', undefined, {}, 'admin router mounted without lendAdminProofs');
        await req.adminProofs.check(req, scheme, token, session.cnf?.jkt);
      }
      if (scope !== undefined && !session.scope.includes(scope)) throw refusal(scheme, 403, 'insufficient_scope', `scope ${scope} is required`);
      req.admin = session;
      next();
    } catch (err) {
      next(err);
    }
  };
}
