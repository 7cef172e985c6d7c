/**
 * The `agent-sts-gate/express` entry: `requireToken` for express 5 (and 4) and the RFC 9728 metadata
 * route. Loads only jose and node built-ins; express is the app's, never imported here.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthInfo } from '../protocol/claims.js';
import { tokenGate, type Gate, type GateOptions, type Presented } from './gate.js';
import { badRequest, challenge, noToken, Refusal } from './refusal.js';

export { memoryReplayCache, redisReplayCache, dpopVerifier, type DpopVerifier, type DpopReplayCache, type DpopCheck, type DpopOutcome } from './dpop.js';
export type { GateOptions as RequireTokenOptions, IntrospectModeOptions, LocalModeOptions } from './gate.js';
export { protectedResourceMetadata, resourceMetadataUrl, resourceMetadata, type ProtectedResourceOptions } from './metadata.js';
export type { AuthInfo } from '../protocol/claims.js';
export { revocationFeed, type RevocationFeed, type RevocationFeedOptions, type FeedStats } from './revocations.js';

/** A request `requireToken` let through; handlers cast to it (express's own Request type knows no `auth`). */
export type AuthedRequest = Request & { auth: AuthInfo };

/** RFC 6750 §2.1 b64token. */
const AUTHORIZATION = /^(bearer|dpop) +([A-Za-z0-9\-._~+/]+=*) *$/i;

function countHeader(req: Request, name: string): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) n++;
  return n;
}

/** Where and how the token came, or the refusal for a request that carries none or carries it wrongly. */
function presented(req: Request): Presented {
  const query = req.query as Record<string, unknown> | undefined;
  const body = req.body as Record<string, unknown> | undefined;
  if (query?.access_token !== undefined || (typeof body === 'object' && body?.access_token !== undefined)) {
    throw badRequest('an access token is accepted only in the Authorization header');
  }
  const header = req.headers.authorization;
  if (header === undefined) throw noToken();
  if (countHeader(req, 'authorization') > 1) throw badRequest('more than one Authorization header');
  const m = AUTHORIZATION.exec(header);
  if (!m) {
    if (/^(bearer|dpop)\b/i.test(header)) throw badRequest('malformed Authorization header');
    throw noToken();
  }
  const scheme = m[1]!.toLowerCase() as 'bearer' | 'dpop';
  const proofs = countHeader(req, 'dpop');
  if (proofs > 1) throw new Refusal(400, 'invalid_dpop_proof', 'more than one DPoP header', 'DPoP');
  const proof = req.headers.dpop;
  return {
    scheme,
    token: m[2]!,
    proof: typeof proof === 'string' ? proof : undefined,
    method: req.method,
    url: `${req.protocol}://${req.get('host') ?? ''}${req.originalUrl}`,
  };
}

function answer(res: Response, gate: Gate, err: unknown): void {
  const r = err instanceof Refusal ? err : new Refusal(503, 'temporarily_unavailable', 'the token could not be checked');
  const value = challenge(r, gate.realm, gate.resourceMetadataUrl, gate.scopes);
  if (value) res.set('WWW-Authenticate', value);
  res.set('Cache-Control', 'no-store');
  res.status(r.status).json(r.code ? { error: r.code, error_description: r.description } : {});
}

/** The middleware, and `close()` for its connections and its own revocation feed (when the app shuts down). */
export type TokenMiddleware = RequestHandler & { close(): void };

/**
 * Express middleware: a request passes only with a live token addressed to `audience`, holding
 * every one of `scopes`; `req.auth` is then the MCP SDK's AuthInfo. Refusals follow RFC 6750 §3.
 */
export function requireToken(options: GateOptions): TokenMiddleware {
  const gate = tokenGate(options);
  const middleware = (req: Request, res: Response, next: NextFunction) => {
    let p: Presented;
    try {
      p = presented(req);
    } catch (err) {
      return answer(res, gate, err);
    }
    gate.verify(p).then(
      (info) => {
        (req as Request & { auth?: AuthInfo }).auth = info;
        next();
      },
      (err: unknown) => answer(res, gate, err),
    );
  };
  return Object.assign(middleware, { close: () => gate.close() });
}
