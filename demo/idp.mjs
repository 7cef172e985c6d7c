// Demo user identity provider for docker-compose: oidc-provider issuing RFC 9068 JWT access tokens
// (typ at+jwt, ES256) whose aud is agent-sts, so agents can exchange them for on-behalf-of tokens.
//
// Users are obtained without a browser through a DEMO-ONLY grant type that names the user (the same
// mechanism as test/helpers/upstream-idp.ts). It trusts the client to say who logged in: never run
// this as a real IdP.
//
// env: PORT (3000), ISSUER (http://localhost:$PORT), STS_AUDIENCE (http://localhost:8080),
//      DEMO_CLIENT_SECRET (demo-portal-secret-change-me)
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT ?? 3000);
const issuer = process.env.ISSUER ?? `http://localhost:${port}`;
const audience = process.env.STS_AUDIENCE ?? 'http://localhost:8080';
const clientId = 'demo-portal';
const clientSecret = process.env.DEMO_CLIENT_SECRET ?? 'demo-portal-secret-change-me';
const GRANT = 'urn:agent-sts:demo:grant-type:user-token';
const SCOPES = 'invoices:read invoices:write';

// A fresh signing key per start: agent-sts refetches the JWKS when it meets an unknown kid.
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: `demo-${Date.now()}`, alg: 'ES256', use: 'sig' };

const resourceServer = { scope: SCOPES, audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: clientId, client_secret: clientSecret, grant_types: [GRANT], response_types: [], redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256',
  }],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== audience) throw new errors.InvalidTarget(`this demo IdP only issues tokens for ${audience}`);
        return resourceServer;
      },
    },
  },
  ttl: { AccessToken: 600, IdToken: 600 },
});

provider.registerGrantType(GRANT, async (ctx) => {
  const { username, scope } = ctx.oidc.params;
  if (!username) throw new errors.InvalidRequest('username is required');
  const offered = new Set(SCOPES.split(' '));
  const at = new provider.AccessToken({
    accountId: username,
    client: ctx.oidc.client,
    resourceServer: new provider.ResourceServer(audience, resourceServer),
    scope: (scope ?? SCOPES).split(' ').filter((s) => offered.has(s)).join(' ') || undefined,
    gty: GRANT,
  });
  ctx.body = { access_token: await at.save(), token_type: 'Bearer', expires_in: at.expiration, scope: at.scope };
}, ['username', 'scope']);

createServer(provider.callback()).listen(port, () => {
  console.log(`demo IdP ${issuer} (JWKS ${issuer}/jwks) issuing user tokens for ${audience}`);
  console.log('get a user access token for alice:');
  console.log(`  curl -s -u ${clientId}:${clientSecret} -d grant_type=${GRANT} -d username=alice -d 'scope=${SCOPES}' http://localhost:${port}/token`);
});
