import { DPOP_TOKEN_TYPE } from 'agent-sts-gate/protocol';
import type { Issued } from '../sessions/service.js';
import type { OAuthResponse } from './request.js';

export function tokenResponse({ token, session }: Issued, nowMs: number, extra: Record<string, string> = {}): OAuthResponse {
  return {
    body: {
      access_token: token,
      token_type: session.cnf ? DPOP_TOKEN_TYPE : 'Bearer',
      expires_in: Math.max(0, session.exp - Math.floor(nowMs / 1000)),
      scope: session.scope.join(' '),
      ...extra,
    },
  };
}
