import type { IncomingMessage } from 'node:http';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ADMIN_AUDIENCE, type AdminScope } from '../clients/types.js';
import type { RequestContext } from '../audit/context.js';
import { bearerError, OAuthError } from '../errors.js';
import type { SessionService } from '../sessions/service.js';
import type { Session } from '../store/index.js';
import { agentsRouter, type RegistryAdmin } from './agents.js';
import { resourceServersRouter } from './resource-servers.js';
import { subjectsRouter } from './subjects.js';

const DEFAULT_LIST_LIMIT = 100;
/** Admin calls carry no meaningful body; a JSON one is parsed (so a malformed one is refused) within this. */
const ADMIN_BODY_LIMIT = '16kb';
const MAX_LIST_LIMIT = 1_000;
/** ?limit= is plain decimal: Number() would also take '1e3', '0x10', ' 5' and '5.0'. */
const DECIMAL = /^[1-9][0-9]{0,5}$/;

export type AdminRequest = Request & { admin?: Session };

/** The request's context as the HTTP front made it (request id, arrival on the service clock). */
export type ContextOf = (req: IncomingMessage) => RequestContext;

const NO_TOKEN = bearerError(401, undefined, 'a bearer token is required');
/** RFC 6750 §2.1: the scheme is case-insensitive, then one or more spaces, then a b64token. */
const BEARER = /^bearer +(.+)$/i;
const B64TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/** The admin is itself an agent: a live agent-sts token for the admin audience, with the right scope. */
export function requireScope(sessions: SessionService, scope: AdminScope) {
  return async (req: AdminRequest, _res: Response, next: NextFunction) => {
    try {
      const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
      // RFC 6750 §3.1: a request without a bearer token gets a challenge without an error code.
      if (!token) throw NO_TOKEN;
      const session = B64TOKEN.test(token) ? await sessions.lookup(token) : undefined;
      if (!session || session.aud !== ADMIN_AUDIENCE) throw bearerError(401, 'invalid_token', 'an active admin token is required');
      if (!session.scope.includes(scope)) throw bearerError(403, 'insufficient_scope', `scope ${scope} is required`);
      req.admin = session;
      next();
    } catch (err) {
      next(err);
    }
  };
}

const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * A state-changing call carries no body, or exactly application/json (parameters such as charset
 * allowed) that parses: a form or text/plain POST (CSRF shape), a JSON look-alike type or a body
 * without a type is refused before anything is killed.
 */
export function jsonOrEmpty(req: Request, _res: Response, next: NextFunction) {
  const type = req.headers['content-type'];
  const json = type?.split(';')[0]!.trim().toLowerCase() === 'application/json';
  if ((type !== undefined || hasBody(req)) && !json) next(new OAuthError(415, 'invalid_request', 'send application/json or no body'));
  else next();
}

export const parseJson = express.json({ limit: ADMIN_BODY_LIMIT, type: () => true });

/** Every other method on a served path: 405 with Allow, before authentication (the methods are no secret). */
export const only = (allow: string) => (_req: Request, _res: Response, next: NextFunction) =>
  next(new OAuthError(405, 'invalid_request', 'method not allowed', { Allow: allow }));

export function sessionView(s: Session) {
  return {
    sid: s.sid,
    parent: s.parent ?? null,
    depth: s.depth,
    agent: s.agent,
    sub: s.sub,
    act: s.act ?? null,
    aud: s.aud,
    scope: s.scope.join(' '),
    created: new Date(s.iat * 1000).toISOString(),
    expires: new Date(s.exp * 1000).toISOString(),
  };
}

type TreeNode = ReturnType<typeof sessionView> & { children: TreeNode[] };

function buildTree(sessions: Session[]): TreeNode {
  const nodes = new Map(sessions.map((s) => [s.sid, { ...sessionView(s), children: [] as TreeNode[] }]));
  for (const s of sessions.slice(1)) nodes.get(s.parent!)?.children.push(nodes.get(s.sid)!);
  return nodes.get(sessions[0]!.sid)!;
}

export function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new OAuthError(400, 'invalid_request', `query parameter '${name}' must be given once`);
  return v;
}

/** The admin's request context: the front's, plus the admin token's session id. */
export const adminContextOf = (contextOf: ContextOf) => (req: AdminRequest): RequestContext => ({ ...contextOf(req), adminSid: req.admin!.sid });

export function adminRouter(sessions: SessionService, contextOf: ContextOf, registry?: RegistryAdmin): Router {
  const r = Router();
  r.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  const adminContext = adminContextOf(contextOf);
  const read = requireScope(sessions, 'sessions:read');
  const kill = requireScope(sessions, 'sessions:kill');

  r.route('/sessions')
    .get(read, async (req, res) => {
      const agent = queryString(req, 'agent');
      const sub = queryString(req, 'sub');
      const limitRaw = queryString(req, 'limit');
      const limit = limitRaw === undefined ? DEFAULT_LIST_LIMIT : DECIMAL.test(limitRaw) ? Number(limitRaw) : NaN;
      if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) {
        throw new OAuthError(400, 'invalid_request', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
      }
      const list = await sessions.list({ ...(agent ? { agent } : {}), ...(sub ? { sub } : {}) }, limit);
      res.json({ sessions: list.map(sessionView) });
    })
    .all(only('GET, HEAD'));

  r.route('/sessions/:sid')
    .get(read, async (req, res) => {
      const tree = await sessions.subtree(String(req.params.sid));
      if (tree.length === 0) throw new OAuthError(404, 'not_found', 'no live session with that id');
      res.json(buildTree(tree));
    })
    .delete(kill, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const revoked = await sessions.revokeTree(String(req.params.sid), req.admin!.agent, 'admin', adminContext(req));
      res.json({ revoked });
    })
    .all(only('GET, HEAD, DELETE'));

  r.route('/agents/:id/revoke-sessions')
    .post(kill, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const revoked = await sessions.revokeAgent(String(req.params.id), req.admin!.agent, adminContext(req));
      res.json({ revoked });
    })
    .all(only('POST'));

  r.use(subjectsRouter(sessions, contextOf));
  if (registry) r.use(agentsRouter(sessions, contextOf, registry));
  if (registry) r.use(resourceServersRouter(sessions, contextOf, registry));
  return r;
}
