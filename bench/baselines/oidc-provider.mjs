// Baseline (a): oidc-provider 9 standalone on node:http with a Redis adapter — what a user would
// otherwise deploy for client credentials + introspection. Opaque access tokens (no resource
// indicators, so no JWT format). Env: PORT, REDIS_URL, BENCH_SECRET. Run by bench/run.mjs.
import './orphan-guard.mjs';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { redisAdapter } from './oidc-redis-adapter.mjs';

// oidc-provider 9 prints a notice on import when Node is older than 22; the benchmark knows.
const warn = console.warn;
console.warn = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
  warn(...args);
};
const { default: Provider } = await import('oidc-provider');
console.warn = warn;

const port = Number(process.env.PORT);
const secret = process.env.BENCH_SECRET;
const CLIENT = 'bench-agent';
const RESOURCE_SERVER = 'bench-api';

const redis = new Redis(process.env.REDIS_URL, { keyPrefix: 'oidc:', maxRetriesPerRequest: 1 });
const signingKey = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'ES256', use: 'sig' };

const client = (client_id) => ({
  client_id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'ES256',
  scope: 'read write',
});

const provider = new Provider(`http://127.0.0.1:${port}`, {
  adapter: redisAdapter(redis),
  clients: [client(CLIENT), client(RESOURCE_SERVER)],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  scopes: ['read', 'write'],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // Any authenticated client may introspect: the cheapest policy, as agent-sts's audience check is.
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: { enabled: false },
  },
  ttl: { ClientCredentials: 3_600 },
});

createServer(provider.callback()).listen(port, '127.0.0.1');
