/**
 * The `agent-sts/mcp` entry: a token verifier for `requireBearerAuth` of the official MCP
 * TypeScript SDK (1.x, an optional peer dependency), with the same checks as `agent-sts/express`.
 */
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo as SdkAuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { InsufficientScopeError, InvalidRequestError, InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { tokenGate, type GateOptions } from './gate.js';
import { Refusal } from './refusal.js';

export type { GateOptions as TokenVerifierOptions, IntrospectModeOptions, LocalModeOptions } from './gate.js';
export { protectedResourceMetadata, resourceMetadataUrl, resourceMetadata, type ProtectedResourceOptions } from './metadata.js';
export { revocationFeed, type RevocationFeed, type RevocationFeedOptions, type FeedStats } from './revocations.js';

/** The SDK's error for each refusal: 401 invalid_token, 403 insufficient_scope, and a server error (never a pass) when agent-sts is unreachable. */
function sdkError(err: unknown): Error {
  if (!(err instanceof Refusal)) return new ServerError('the token could not be checked');
  if (err.status === 401) return new InvalidTokenError(err.description);
  if (err.status === 403) return new InsufficientScopeError(err.description);
  if (err.status === 400) return new InvalidRequestError(err.description);
  return new ServerError(err.description);
}

/**
 * `requireBearerAuth({ verifier: tokenVerifier(…) })`. The SDK hands over the token alone (and
 * accepts only the Bearer scheme), so a DPoP-bound token is refused here: it needs the proof.
 */
export function tokenVerifier(options: GateOptions): OAuthTokenVerifier & { resourceMetadataUrl: string; close(): void } {
  const gate = tokenGate(options);
  return {
    resourceMetadataUrl: gate.resourceMetadataUrl,
    close: () => gate.close(),
    async verifyAccessToken(token: string): Promise<SdkAuthInfo> {
      try {
        return await gate.verify({ scheme: 'bearer', token, proof: undefined, method: 'POST', url: options.audience });
      } catch (err) {
        throw sdkError(err);
      }
    },
  };
}
