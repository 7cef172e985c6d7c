import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { GRANT_TYPES } from 'agent-sts-gate/protocol';
import type { RegistryDocument } from './clients/registry-file.js';
import { hashSecret, newSecret } from './clients/secret.js';
import { ADMIN_AUDIENCE, ADMIN_SCOPES } from './clients/types.js';
import type { Config } from './config/index.js';
import { addKey, readKeys } from './keys/keystore.js';
import { redisKeys } from './store/keys.js';
import { connectRedis } from './store/redis/connect.js';
import { RedisRegistryStore } from './store/redis/registry-store.js';
import type { RegistryKind } from './store/registry.js';

const exists = (file: string) => access(file).then(() => true, () => false);

export const DEMO_API = 'https://api.example.com';

/** What the demo registry holds, with the clear-text secrets (printed once, never stored). */
export function demoRegistry(): { doc: RegistryDocument; secrets: Record<string, string> } {
  const secrets = { 'demo-agent': newSecret(), 'demo-subagent': newSecret(), admin: newSecret(), [DEMO_API]: newSecret() };
  const doc: RegistryDocument = {
    agents: [
      {
        id: 'demo-agent', owner: 'demo', description: 'may delegate read access to demo-subagent',
        secretHash: hashSecret(secrets['demo-agent']),
        audiences: { [DEMO_API]: ['invoices:read', 'invoices:write'] },
        maxTokenTtlSeconds: 300, maxDelegationDepth: 2, grantTypes: [GRANT_TYPES.clientCredentials, GRANT_TYPES.tokenExchange], delegates: ['demo-subagent'],
      },
      {
        id: 'demo-subagent', owner: 'demo', description: 'acts only on tokens delegated by demo-agent',
        secretHash: hashSecret(secrets['demo-subagent']),
        audiences: { [DEMO_API]: ['invoices:read'] },
        maxTokenTtlSeconds: 120, maxDelegationDepth: 2, grantTypes: [GRANT_TYPES.clientCredentials, GRANT_TYPES.tokenExchange],
      },
      {
        id: 'admin', owner: 'demo', description: 'lists and kills sessions',
        secretHash: hashSecret(secrets.admin),
        audiences: { [ADMIN_AUDIENCE]: [...ADMIN_SCOPES] },
        maxTokenTtlSeconds: 600,
      },
    ],
    resourceServers: [{ id: DEMO_API, secretHash: hashSecret(secrets[DEMO_API]), scopes: ['invoices:read', 'invoices:write'] }],
  };
  return { doc, secrets };
}

/**
 * Makes `npm start` useful with nothing configured (like `vault server -dev`): signing keys and a
 * demo registry are created when missing, and the demo secrets that will work are printed once
 * (with REDIS_URL, an id the store already holds keeps its credentials). In production nothing is
 * created: missing keys or registry stop the start.
 */
export async function ensureDevSetup(config: Config, log: Logger): Promise<void> {
  const haveKeys = (await readKeys(config.keysDir)).length > 0;
  const haveRegistry = await exists(config.registryPath);
  if (config.env === 'production') {
    const problems = [
      ...(haveKeys ? [] : [`STS_KEYS_DIR: no signing keys in ${config.keysDir} (npm run keys:rotate)`]),
      ...(haveRegistry ? [] : [`STS_REGISTRY: no registry file at ${config.registryPath}`]),
    ];
    if (problems.length) throw new Error(`refusing to start in production:\n  - ${problems.join('\n  - ')}`);
    return;
  }
  if (!haveKeys) {
    const key = await addKey(config.keysDir);
    log.warn({ kid: key.kid, dir: config.keysDir }, 'generated a development signing key');
  }
  if (!haveRegistry) {
    const { doc, secrets } = demoRegistry();
    // Before writing: a Redis that already holds an id keeps its credentials, so that id's new secret would not work.
    const kept = await idsTheSeedKeeps(config, doc);
    await mkdir(path.dirname(config.registryPath), { recursive: true });
    await writeFile(config.registryPath, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    process.stdout.write(demoSecretsBanner(config.registryPath, secrets, kept));
  }
}

/**
 * The demo ids whose file entry the seed will leave alone: with REDIS_URL and the default
 * `store` mode, the ids the store already has (or had, and deleted through the API). The embedded
 * store starts empty and `file` mode rewrites every id it names, so then none.
 */
async function idsTheSeedKeeps(config: Config, doc: RegistryDocument): Promise<Set<string>> {
  if (!config.redisUrl || config.registryMode === 'file') return new Set();
  const redis = connectRedis({ url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs });
  redis.on('error', () => {}); // a failure surfaces as the rejected connect or command below
  try {
    await redis.connect();
    const store = new RedisRegistryStore(redis, redisKeys(config.redisKeyPrefix));
    const ids: [RegistryKind, string][] = [
      ...(doc.agents ?? []).map((a): [RegistryKind, string] => ['agent', a.id]),
      ...(doc.resourceServers ?? []).map((r): [RegistryKind, string] => ['resourceServer', r.id]),
    ];
    const present = await Promise.all(ids.map(async ([kind, id]) => ((await store.get(kind, id)) === undefined ? undefined : id)));
    return new Set(present.filter((id): id is string => id !== undefined));
  } finally {
    redis.disconnect();
  }
}

/** What the first start prints: the secrets that work, and plainly which ids got none. */
export function demoSecretsBanner(registryPath: string, secrets: Record<string, string>, kept: ReadonlySet<string>): string {
  const working = Object.entries(secrets).filter(([id]) => !kept.has(id));
  const lines = [`\n==> Demo registry written to ${registryPath}`];
  if (working.length) {
    lines.push(`    Client secrets (shown once, never stored; delete the file and restart for new ones${kept.size ? ', of the ids the store lacks' : ''}):`);
    lines.push(...working.map(([id, secret]) => `    ${id.padEnd(24)} ${secret}`));
  }
  if (kept.size) {
    lines.push(working.length ? '    No new secret for these ids, which the store (REDIS_URL) already holds; their earlier secrets still work:' : '    No secret was set: the store (REDIS_URL) already holds every demo id, and their earlier secrets still work:');
    lines.push(`    ${[...kept].join(', ')}`);
    lines.push('    To get a new one, rotate it with the admin API (POST /admin/agents/<id>/credentials) or `agent-sts agents rotate <id>`.');
  }
  return `${lines.join('\n')}\n\n`;
}
