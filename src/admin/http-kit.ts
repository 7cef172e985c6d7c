import type { IncomingMessage } from 'node:http';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { RequestContext } from '../audit/context.js';
import { OAuthError, parseInput } from '../errors.js';
import type { RegistryActor } from '../registry/service.js';
import type { AdminRequest } from './authorize.js';

/**
 * What every admin router (and the SSF routers beside them) shares: how a router is made (no-store
 * by construction), the admin's token check (from authorize.ts), the JSON-or-nothing body rule,
 * 405s, query parameters (strings, integers) and body parsing. The routers import
 * this; nothing here imports a router.
 */

/** Admin calls carry no meaningful body; a JSON one is parsed (so a malformed one is refused) within this. */
const ADMIN_BODY_LIMIT = '16kb';

export type { AdminRequest } from './authorize.js';
export { requireScope } from './authorize.js';

/** The request's context as the HTTP front made it (request id, arrival on the service clock). */
export type ContextOf = (req: IncomingMessage) => RequestContext;

/** The admin API's and SSF's answers are private to their caller: set before any handler runs, so 204s and errors carry it too. */
export function noStore(_req: Request, res: Response, next: NextFunction) {
  res.set('Cache-Control', 'no-store');
  next();
}

/**
 * Every router of the admin API and SSF is made here: whatever it answers under `under` is
 * no-store, whichever router is mounted before or after it. A router mounted at the root beside
 * public routes (SSF's metadata) names the prefix its private routes share.
 */
export function privateRouter(under = '/'): Router {
  const r = Router();
  r.use(under, noStore);
  return r;
}

const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** What a body may be sent as: JSON, and for a PATCH also RFC 7396's merge patch type. */
const MERGE_PATCH = 'application/merge-patch+json';

function jsonBodyOnly(types: ReadonlySet<string>, refusal: string) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const type = req.headers['content-type'];
    const json = type !== undefined && types.has(type.split(';')[0]!.trim().toLowerCase());
    if ((type !== undefined || hasBody(req)) && !json) next(new OAuthError(415, 'invalid_request', refusal));
    else next();
  };
}

/**
 * A state-changing call carries no body, or exactly application/json (parameters such as charset
 * allowed) that parses: a form or text/plain POST (CSRF shape), a JSON look-alike type or a body
 * without a type is refused before anything is killed.
 */
export const jsonOrEmpty = jsonBodyOnly(new Set(['application/json']), 'send application/json or no body');

/**
 * A PATCH, documented as an RFC 7396 merge patch: application/json or application/merge-patch+json
 * (neither is a type a form or a CORS-simple request can send); anything else as jsonOrEmpty.
 */
export const jsonOrMergePatch = jsonBodyOnly(new Set(['application/json', MERGE_PATCH]), `send application/json, ${MERGE_PATCH} or no body`);

export const parseJson = express.json({ limit: ADMIN_BODY_LIMIT, type: () => true });

/** Every other method on a served path: 405 with Allow, before authentication (the methods are no secret). */
export const only = (allow: string) => (_req: Request, _res: Response, next: NextFunction) =>
  next(new OAuthError(405, 'invalid_request', 'method not allowed', { Allow: allow }));

export function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new OAuthError(400, 'invalid_request', `query parameter '${name}' must be given once`);
  return v;
}

/** Plain decimal digits without a sign or a leading zero: Number() would also take '1e3', '0x10', ' 5', '+5' and '5.0'. */
const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * An integer query parameter from `min` to `max`, `fallback` when absent: a plain decimal, or one
 * 400 naming the parameter and its range (a parameter given twice or empty: queryString's 400).
 */
export function integerParam(req: Request, name: string, range: { min: number; max: number; fallback: number }): number {
  const raw = queryString(req, name);
  if (raw === undefined) return range.fallback;
  const n = raw.length <= String(range.max).length && DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!(n >= range.min && n <= range.max)) throw new OAuthError(400, 'invalid_request', `query parameter '${name}' must be an integer from ${range.min} to ${range.max}`);
  return n;
}

/** The admin's request context: the front's, plus the admin token's session id. */
export const adminContextOf = (contextOf: ContextOf) => (req: AdminRequest): RequestContext => ({ ...contextOf(req), adminSid: req.admin!.sid });

/** A JSON body checked by a zod schema: one 400 naming the first bad field (see parseInput). */
export const parseBody = parseInput;

/** The admin as the registry sees it: its agent, the scopes its token holds, and the request (with its session id). */
export const actorOf = (contextOf: ContextOf) => (req: AdminRequest): RegistryActor => ({
  agent: req.admin!.agent, scopes: req.admin!.scope, context: { ...contextOf(req), adminSid: req.admin!.sid },
});
