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

/** A root session of `agent`: the store refuses to create it while the agent is marked disabled. */
const sessionOf = (agent: string) => ({
  sid: `sid${agent.replace(/\W/g, '')}`, ancestors: [], chain: [], depth: 0, maxDepth: 1, agent, sub: agent, aud: API, scope: ['read'],
  iat: 1, exp: 2_000_000_000, jti: `jti${agent.replace(/\W/g, '')}`, tokenHash: 'h',
});

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
    expect(await sessions.create(sessionOf('agent-0'), Date.now(), Date.now())).toBe('agent_disabled');
    expect(await sessions.create(sessionOf('agent-1'), Date.now(), Date.now())).toBe('created');
    const second = await seedRegistry(store, sessions, doc, 'store', log, Date.now());
    expect(second.imported).toEqual([]);
    expect(second.skipped).toEqual(labels);
  });

  it('a boot that stored a disabled agent but failed to mark it is finished by the next boot', async () => {
    const store = new MemoryRegistryStore();
    const sessions = new MemorySessionStore();
    const doc = await bigDocument();
    const log = pino({ level: 'silent' });
    const marking = sessions.setAgentDisabled.bind(sessions);
    let failures = 1;
    sessions.setAgentDisabled = async (id, disabled) => {
      if (disabled && failures-- > 0) throw new Error('store unavailable');
      return marking(id, disabled);
    };
    await expect(seedRegistry(store, sessions, doc, 'store', log, Date.now())).rejects.toThrow('store unavailable');
    expect((await store.get('agent', 'agent-0')) !== undefined).toBe(true);
    const again = await seedRegistry(store, sessions, doc, 'store', log, Date.now());
    expect(again.skipped).toContain('agent agent-0');
    expect(await sessions.create(sessionOf('agent-0'), Date.now(), Date.now())).toBe('agent_disabled');
  });
});
