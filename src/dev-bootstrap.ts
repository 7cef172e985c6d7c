import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { GRANT_TYPES } from 'agent-sts-gate/protocol';
import type { RegistryDocument } from './clients/registry-file.js';
import { hashSecret, newSecret } from './clients/secret.js';
import { ADMIN_AUDIENCE, ADMIN_SCOPES } from './clients/types.js';
import type { Config } from './config/index.js';
import { addKey, readKeys } from './keys/keystore.js';

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
 * demo registry are created when missing, and the demo credentials are printed once. In production
 * nothing is created: missing keys or registry stop the start.
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
    await mkdir(path.dirname(config.registryPath), { recursive: true });
    await writeFile(config.registryPath, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    const lines = Object.entries(secrets).map(([id, secret]) => `    ${id.padEnd(24)} ${secret}`);
    process.stdout.write(
      `\n==> Demo registry written to ${config.registryPath}\n    Client secrets (shown once; delete the file to get new ones — with REDIS_URL only ids the store lacks are seeded):\n${lines.join('\n')}\n\n`,
    );
  }
}
