/**
 * The `agent-sts-gate/mcp` entry: a token verifier for `requireBearerAuth` of the official MCP
 * TypeScript SDK (1.x, an optional peer dependency), with the same checks as `agent-sts-gate/express`.
 */
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo as SdkAuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { tokenGate, type GateOptions } from './gate.js';
import { Refusal } from './refusal.js';

export type { IntrospectModeOptions, LocalModeOptions } from './gate.js';
export { protectedResourceMetadata, resourceMetadataUrl, resourceMetadata, type ProtectedResourceOptions } from './metadata.js';
export { revocationFeed, type RevocationFeed, type RevocationFeedOptions, type FeedStats } from './revocations.js';

type ErrorClass = new (message: string) => Error;

/**
 * The error classes of `@modelcontextprotocol/sdk/server/auth/errors.js`. `requireBearerAuth` finds
 * a refusal's status by `instanceof`, so they must be the classes of the SDK copy the app runs: an
 * error built by another copy is answered 500.
 */
export interface SdkAuthErrors {
  InvalidTokenError: ErrorClass;
  InsufficientScopeError: ErrorClass;
  InvalidRequestError: ErrorClass;
  ServerError: ErrorClass;
}

export type TokenVerifierOptions = GateOptions & {
  /**
   * The app's `import * as errors from '@modelcontextprotocol/sdk/server/auth/errors.js'`. Default:
   * the SDK this package resolves, which is the app's own when npm installed the package beside it.
   * Pass it when the package is linked (a workspace, `npm link`, a folder) and may find another copy.
   */
  errors?: SdkAuthErrors;
};

/** The SDK's error for each refusal: 401 invalid_token, 403 insufficient_scope, and a server error (never a pass) when agent-sts is unreachable. */
function sdkError(errors: SdkAuthErrors, err: unknown): Error {
  if (!(err instanceof Refusal)) return new errors.ServerError('the token could not be checked');
  if (err.status === 401) return new errors.InvalidTokenError(err.description);
  if (err.status === 403) return new errors.InsufficientScopeError(err.description);
  if (err.status === 400) return new errors.InvalidRequestError(err.description);
  return new errors.ServerError(err.description);
}

/**
 * `requireBearerAuth({ verifier: tokenVerifier(…) })`. The SDK hands over the token alone (and
 * accepts only the Bearer scheme), so a DPoP-bound token is refused here: it needs the proof.
 */
export function tokenVerifier(options: TokenVerifierOptions): OAuthTokenVerifier & { resourceMetadataUrl: string; close(): void } {
  const gate = tokenGate(options);
  return {
    resourceMetadataUrl: gate.resourceMetadataUrl,
    close: () => gate.close(),
    async verifyAccessToken(token: string): Promise<SdkAuthInfo> {
      try {
        return await gate.verify({ scheme: 'bearer', token, proof: undefined, method: 'POST', url: options.audience });
      } catch (err) {
        // Loaded on a refusal only, so the SDK stays an optional peer of the package's other entries.
        const errors = options.errors ?? (await import('@modelcontextprotocol/sdk/server/auth/errors.js'));
        throw sdkError(errors, err);
      }
    },
  };
}
