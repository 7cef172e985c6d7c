import type { Issued } from '../sessions/service.js';
import type { OAuthResponse } from './request.js';

export function tokenResponse({ token, session }: Issued, nowMs: number, extra: Record<string, string> = {}): OAuthResponse {
  return {
    body: {
      access_token: token,
      token_type: 'Bearer',
      expires_in: Math.max(0, session.exp - Math.floor(nowMs / 1000)),
      scope: session.scope.join(' '),
      ...extra,
    },
  };
}
