import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { freePort } from './redis-server.js';
import { basic } from './sts.js';

/**
 * A real upstream identity provider for on-behalf-of tests: oidc-provider 9 on a loopback port,
 * issuing RFC 9068 JWT access tokens (typ at+jwt, ES256) through its resource indicators feature.
 *
 * How a *user's* token is obtained without a browser: a test-only grant type registered with
 * `provider.registerGrantType` that names the user and mints `new provider.AccessToken(...)` for
 * them. Chosen over driving the authorization code flow through devInteractions because the login
 * and consent pages are outside anything agent-sts sees, while scraping their HTML and cookies
 * would make every test depend on oidc-provider's dev UI. The token itself comes out of the same
 * model, JWT format, keystore and resource-server configuration as a code-flow token. The grant is
 * a backdoor by design: only for tests and the demo IdP (demo/idp.mjs uses the same mechanism).
 */
export const USER_GRANT = 'urn:agent-sts:test:grant-type:user-token';

/** The client users "log in" through; its access tokens are issued for agent-sts (resource indicator). */
const PORTAL_CLIENT = 'agent-portal';
/** Scopes the IdP lets a user grant at any resource (what getResourceServerInfo offers). */
const RESOURCE_SCOPES = 'invoices:read invoices:write reports:read';
const DEFAULT_USER_SCOPE = 'invoices:read invoices:write';

export interface UserTokenOptions {
  /** Space-separated scopes for the token (default: invoices:read invoices:write). */
  scope?: string;
  /** Lifetime in seconds (default 600). */
  expiresInSeconds?: number;
  /** Resource indicator, which becomes `aud` (default: the IdP's configured audience). */
  audience?: string;
}

export interface UpstreamIdp {
  issuer: string;
  jwksUri: string;
  /** A user's RFC 9068 access token (JWT, typ at+jwt, aud = audience) from the real provider. */
  userToken(sub: string, opts?: UserTokenOptions): Promise<string>;
  /**
   * The same user's OpenID Connect ID token, issued to a client whose client_id IS the audience
   * (as Entra ID names an API's tokens by its app id): iss, aud, sub and signature all match what
   * agent-sts checks, so only the token type tells it apart from an access token.
   */
  idToken(sub: string): Promise<string>;
  close(): Promise<void>;
}

/** Minimal oidc-provider shape used here (the package ships no type declarations). */
interface ProviderCtx {
  oidc: { params: Record<string, string | undefined>; client: unknown };
  body: unknown;
}
interface OidcProvider {
  callback(): (req: unknown, res: unknown) => void;
  registerGrantType(name: string, handler: (ctx: ProviderCtx) => Promise<void>, params: string[]): void;
  AccessToken: new (init: Record<string, unknown>) => { save(): Promise<string>; expiration: number; scope?: string };
  IdToken: new (claims: Record<string, unknown>, opts: { ctx: ProviderCtx }) => {
    scope: string;
    issue(opts: { use: 'idtoken' }): Promise<string>;
  };
  ResourceServer: new (identifier: string, info: ResourceServerInfo) => unknown;
}
interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenFormat: 'jwt';
  jwt: { sign: { alg: 'ES256' } };
}
interface OidcModule {
  default: new (issuer: string, config: Record<string, unknown>) => OidcProvider;
  errors: { InvalidRequest: new (description: string) => Error; InvalidTarget: new (description: string) => Error };
}

let oidcModule: Promise<OidcModule> | undefined;

/**
 * oidc-provider 9 warns on import that it wants Node 22; the project knowingly runs it on Node 20
 * for tests and the demo only, so that one notice is kept out of the test output.
 */
function loadOidcProvider(): Promise<OidcModule> {
  oidcModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
      warn(...args);
    };
    try {
      // @ts-expect-error -- oidc-provider ships no type declarations; the shape used is typed above
      return (await import('oidc-provider')) as OidcModule;
    } finally {
      console.warn = warn;
    }
  })();
  return oidcModule;
}

/** oidc-provider's storage interface, in a Map (keeps its "dev-only adapter" warning out of the output). */
function mapAdapter() {
  const store = new Map<string, Record<string, unknown>>();
  return class MapAdapter {
    constructor(private readonly model: string) {}
    private key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(this.key(id), payload);
    }
    async find(id: string) {
      return store.get(this.key(id));
    }
    async findByUid(uid: string) {
      return [...store.values()].find((p) => p.uid === uid);
    }
    async findByUserCode(userCode: string) {
      return [...store.values()].find((p) => p.userCode === userCode);
    }
    async consume(id: string) {
      const p = store.get(this.key(id));
      if (p) p.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, p] of store) if (p.grantId === grantId) store.delete(k);
    }
  };
}

/** Starts oidc-provider on 127.0.0.1:<free port>; `audience` is agent-sts's issuer (what user tokens name in aud). */
export async function startUpstreamIdp({ audience }: { audience: string }): Promise<UpstreamIdp> {
  const { default: Provider, errors } = await loadOidcProvider();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: `idp-${randomBytes(4).toString('hex')}`, alg: 'ES256', use: 'sig' };
  const secrets = { [PORTAL_CLIENT]: randomBytes(24).toString('base64url'), [audience]: randomBytes(24).toString('base64url') };

  const resourceServerInfo = (resource: string): ResourceServerInfo => ({
    scope: RESOURCE_SCOPES,
    audience: resource,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  });

  const provider = new Provider(issuer, {
    adapter: mapAdapter(),
    jwks: { keys: [signingKey] },
    clients: Object.entries(secrets).map(([client_id, client_secret]) => ({
      client_id,
      client_secret,
      grant_types: [USER_GRANT],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    })),
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => resourceServerInfo(resource),
      },
    },
    ttl: { AccessToken: 600, IdToken: 600 },
  });

  // The test-only "user logged in" grant: the client names the user; a real login would have proved it.
  provider.registerGrantType(
    USER_GRANT,
    async (ctx) => {
      const { username, resource, scope, expires_in, token_kind } = ctx.oidc.params;
      if (!username) throw new errors.InvalidRequest('username is required');
      if (token_kind === 'id_token') {
        const idToken = new provider.IdToken({ sub: username }, { ctx });
        idToken.scope = 'openid';
        ctx.body = { id_token: await idToken.issue({ use: 'idtoken' }), token_type: 'Bearer' };
        return;
      }
      const target = resource ?? audience;
      if (!URL.canParse(target)) throw new errors.InvalidTarget('resource must be an absolute URI');
      const offered = new Set(RESOURCE_SCOPES.split(' '));
      const at = new provider.AccessToken({
        accountId: username,
        client: ctx.oidc.client,
        resourceServer: new provider.ResourceServer(target, resourceServerInfo(target)),
        scope: (scope ?? DEFAULT_USER_SCOPE).split(' ').filter((s) => offered.has(s)).join(' ') || undefined,
        gty: USER_GRANT,
        ...(expires_in ? { expiresIn: Number(expires_in) } : {}),
      });
      ctx.body = { access_token: await at.save(), token_type: 'Bearer', expires_in: at.expiration, scope: at.scope };
    },
    ['username', 'resource', 'scope', 'expires_in', 'token_kind'],
  );

  const server: Server = createServer(provider.callback() as Parameters<typeof createServer>[0]);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  const tokenRequest = async (client: string, params: Record<string, string>): Promise<Record<string, unknown>> => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(client, secrets[client]!),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: USER_GRANT, ...params }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`upstream IdP token request failed: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    async userToken(sub, opts = {}) {
      const body = await tokenRequest(PORTAL_CLIENT, {
        username: sub,
        resource: opts.audience ?? audience,
        scope: opts.scope ?? DEFAULT_USER_SCOPE,
        ...(opts.expiresInSeconds !== undefined ? { expires_in: String(opts.expiresInSeconds) } : {}),
      });
      return body.access_token as string;
    },
    async idToken(sub) {
      const body = await tokenRequest(audience, { username: sub, token_kind: 'id_token' });
      return body.id_token as string;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
