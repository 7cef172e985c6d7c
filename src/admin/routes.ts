import type { Router } from 'express';
import { OAuthError } from '../errors.js';
import type { SessionService } from '../sessions/service.js';
import type { ListOrder, Session } from '../store/index.js';
import type { RegistryService } from '../registry/service.js';
import { agentsRouter } from './agents.js';
import { adminContextOf, integerParam, jsonOrEmpty, only, parseJson, privateRouter, queryString, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';
import { resourceServersRouter } from './resource-servers.js';
import { subjectsRouter } from './subjects.js';

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1_000;
const LIST_ORDERS: readonly ListOrder[] = ['soonest_expiry', 'latest_expiry'];

/** ?order=soonest_expiry (the default) or latest_expiry: anything else is one 400 naming it. */
function orderParam(req: AdminRequest): ListOrder {
  const v = queryString(req, 'order') ?? 'soonest_expiry';
  if (!(LIST_ORDERS as readonly string[]).includes(v)) throw new OAuthError(400, 'invalid_request', `query parameter 'order' must be ${LIST_ORDERS.join(' or ')}`);
  return v as ListOrder;
}

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

export function adminRouter(sessions: SessionService, contextOf: ContextOf, registry?: RegistryService): Router {
  const r = privateRouter();
  const adminContext = adminContextOf(contextOf);
  const read = requireScope(sessions, 'sessions:read');
  const kill = requireScope(sessions, 'sessions:kill');

  r.route('/sessions')
    .get(read, async (req, res) => {
      const agent = queryString(req, 'agent');
      const sub = queryString(req, 'sub');
      const limit = integerParam(req, 'limit', { min: 1, max: MAX_LIST_LIMIT, fallback: DEFAULT_LIST_LIMIT });
      const list = await sessions.list({ ...(agent ? { agent } : {}), ...(sub ? { sub } : {}) }, limit, orderParam(req));
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
