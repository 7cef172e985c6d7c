import type { Router } from 'express';
import type { SessionService } from '../sessions/service.js';
import { adminContextOf, jsonOrEmpty, only, parseJson, privateRouter, requireScope, type AdminRequest, type ContextOf } from './http-kit.js';

/** POST /admin/subjects/:sub/revoke-sessions: every session on behalf of that user, e.g. when the account is compromised. */
export function subjectsRouter(sessions: SessionService, contextOf: ContextOf): Router {
  const r = privateRouter();
  const adminContext = adminContextOf(contextOf);
  r.route('/subjects/:sub/revoke-sessions')
    .post(requireScope(sessions, 'sessions:kill'), jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const revoked = await sessions.revokeSubject(String(req.params.sub), req.admin!.agent, adminContext(req));
      res.json({ revoked });
    })
    .all(only('POST'));
  return r;
}
