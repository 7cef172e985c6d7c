import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { parseRegistryDocument } from '../../src/clients/registry-file.js';
import { hashSecret } from '../../src/clients/secret.js';
import { seedRegistry } from '../../src/clients/seed.js';
import { MemoryRegistryStore } from '../../src/store/memory/registry-store.js';
import { MemorySessionStore } from '../../src/store/memory/session-store.js';

const API = 'https://api.example.com';
const HASH = hashSecret('seed-test-secret-0123456789abcdefgh');
/** More than one seeding window (entries written at once), so the windows and their order are exercised. */
const AGENTS = 150;

async function bigDocument() {
  return parseRegistryDocument({
    agents: Array.from({ length: AGENTS }, (_, i) => ({ id: `agent-${i}`, secretHash: HASH, audiences: { [API]: ['read'] }, disabled: i % 7 === 0 })),
    resourceServers: [{ id: API, secretHash: HASH, scopes: ['read'] }],
  });
}

describe('seeding the registry from a file of many entries', () => {
  it('writes every entry and every disabled mark, and reports them in the file order; a second boot skips them all', async () => {
    const store = new MemoryRegistryStore();
    const sessions = new MemorySessionStore();
    const doc = await bigDocument();
    const log = pino({ level: 'silent' });
    const first = await seedRegistry(store, sessions, doc, 'store', log, Date.now());
    const labels = [...doc.agents.map((a) => `agent ${a.id}`), `resource server ${API}`];
    expect(first.imported).toEqual(labels);
    expect((await store.all('agent')).docs.size).toBe(AGENTS);
    // a disabled agent's create is refused by the store itself; an enabled one is not
    const session = (agent: string) => ({
      sid: `sid${agent.replace(/\W/g, '')}`, ancestors: [], chain: [], depth: 0, maxDepth: 1, agent, sub: agent, aud: API, scope: ['read'],
      iat: 1, exp: 2_000_000_000, jti: `jti${agent.replace(/\W/g, '')}`, tokenHash: 'h',
    });
    expect(await sessions.create(session('agent-0'), Date.now(), Date.now())).toBe('agent_disabled');
    expect(await sessions.create(session('agent-1'), Date.now(), Date.now())).toBe('created');
    const second = await seedRegistry(store, sessions, doc, 'store', log, Date.now());
    expect(second.imported).toEqual([]);
    expect(second.skipped).toEqual(labels);
  });
});
