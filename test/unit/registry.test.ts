import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { loadRegistryFile, parseRegistry, RegistryError, type RegistryDocument } from '../../src/clients/registry-file.js';
import { hashSecret } from '../../src/clients/secret.js';

const API = 'https://api.example.com';
const HASH = hashSecret('registry-test-secret-0123456789abcdef');

async function keyPair(): Promise<{ publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

/** A valid document; each test breaks one thing. */
function doc(): {
  agents: Record<string, unknown>[];
  resourceServers: Record<string, unknown>[];
  trustedIssuers: Record<string, unknown>[];
} {
  return {
    agents: [
      { id: 'billing-agent', secretHash: HASH, audiences: { [API]: ['invoices:read', 'invoices:write'] }, delegates: ['sub-agent'] },
      { id: 'sub-agent', secretHash: HASH, audiences: { [API]: ['invoices:read'] } },
      { id: 'admin', secretHash: HASH, audiences: { 'urn:agent-sts:admin': ['sessions:read', 'sessions:kill'] } },
    ],
    resourceServers: [{ id: API, secretHash: HASH, scopes: ['invoices:read', 'invoices:write'] }],
    trustedIssuers: [],
  };
}

async function problemsOf(raw: unknown): Promise<string[]> {
  try {
    await parseRegistry(raw, 'test-registry.json');
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    expect(err.message).toContain('test-registry.json');
    return err.problems;
  }
  throw new Error('expected a RegistryError, the registry was accepted');
}

describe('parseRegistry: a valid registry', () => {
  it('fills defaults and answers lookups with frozen entries', async () => {
    const reg = await parseRegistry(doc() as RegistryDocument);
    const sub = await reg.agent('sub-agent');
    expect(sub).toMatchObject({
      id: 'sub-agent',
      maxTokenTtlSeconds: 300,
      maxDelegationDepth: 0,
      grantTypes: ['client_credentials'],
      delegates: [],
      disabled: false,
    });
    expect(Object.isFrozen(sub)).toBe(true);
    expect((await reg.agent('billing-agent'))!.delegates).toEqual(['sub-agent']);
    expect(await reg.resourceServer(API)).toMatchObject({ id: API, scopes: ['invoices:read', 'invoices:write'] });
    expect(await reg.agent('nobody')).toBeUndefined();
    expect(await reg.agent('__proto__')).toBeUndefined();
    expect(await reg.resourceServer('https://nowhere.example.com')).toBeUndefined();
    expect(await reg.trustedIssuer('https://idp.example.com')).toBeUndefined();
  });

  it('accepts an agent with only public keys, and a trusted issuer with exactly one of jwks / jwksUri', async () => {
    const { publicJwk } = await keyPair();
    const d = doc();
    d.agents.push({ id: 'jwt-agent', jwks: { keys: [publicJwk] }, audiences: { [API]: ['invoices:read'] } });
    d.trustedIssuers.push(
      { issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audience: 'sts', agents: ['billing-agent'] },
      { issuer: 'https://idp2.example.com', jwks: { keys: [publicJwk] }, audience: 'sts', agents: ['jwt-agent'] },
    );
    const reg = await parseRegistry(d as RegistryDocument);
    expect((await reg.agent('jwt-agent'))!.jwks!.keys).toHaveLength(1);
    expect(await reg.trustedIssuer('https://idp.example.com')).toMatchObject({ audience: 'sts', algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] });
  });
});

describe('parseRegistry: refusals name what is wrong', () => {
  it('an unknown field in an agent is an error naming the field', async () => {
    const d = doc();
    d.agents[1]!.secret = 'plain-text';
    const problems = await problemsOf(d);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^agents\.1/);
    expect(problems[0]).toContain('"secret"');
  });

  it('an unknown field at the top level, in a resource server or a trusted issuer is an error naming it', async () => {
    const d = { ...doc(), clients: [] } as Record<string, unknown>;
    expect((await problemsOf(d)).join('\n')).toContain('"clients"');
    const d2 = doc();
    d2.resourceServers[0]!.audience = API;
    expect((await problemsOf(d2)).join('\n')).toMatch(/resourceServers\.0.*"audience"/);
    const d3 = doc();
    d3.trustedIssuers.push({ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audience: 'sts', agents: ['billing-agent'], trust: true });
    expect((await problemsOf(d3)).join('\n')).toMatch(/trustedIssuers\.0.*"trust"/);
  });

  it('duplicate agent ids and duplicate resource servers', async () => {
    const d = doc();
    d.agents.push({ ...d.agents[1]! });
    d.resourceServers.push({ ...d.resourceServers[0]! });
    const problems = await problemsOf(d);
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringContaining('duplicate agent "sub-agent"'), expect.stringContaining(`duplicate resource server "${API}"`)]),
    );
    expect(problems).toHaveLength(2);
  });

  it('a delegate that is not a known agent', async () => {
    const d = doc();
    d.agents[0]!.delegates = ['sub-agent', 'ghost-agent'];
    expect(await problemsOf(d)).toEqual(['agents[0].delegates: unknown agent "ghost-agent"']);
  });

  it('a scope the resource server does not offer', async () => {
    const d = doc();
    d.agents[1]!.audiences = { [API]: ['invoices:read', 'invoices:delete'] };
    expect(await problemsOf(d)).toEqual([`agents[1].audiences["${API}"]: scope "invoices:delete" is not offered there`]);
  });

  it('an admin scope the admin API does not know', async () => {
    const d = doc();
    d.agents[2]!.audiences = { 'urn:agent-sts:admin': ['sessions:read', 'sessions:everything'] };
    expect((await problemsOf(d)).join('\n')).toContain('"sessions:everything"');
  });

  it('a private key in an agent jwks is refused', async () => {
    const { privateJwk } = await keyPair();
    const d = doc();
    d.agents[1]!.jwks = { keys: [privateJwk] };
    expect(await problemsOf(d)).toEqual([expect.stringMatching(/^agents\[1\]\.jwks\.keys\[0\]: must be a public key/)]);
  });

  it('a private key in a resource server jwks, or a symmetric key, is refused', async () => {
    const { privateJwk } = await keyPair();
    const d = doc();
    d.resourceServers[0]!.jwks = { keys: [privateJwk] };
    d.agents[1]!.jwks = { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0' }] };
    const problems = await problemsOf(d);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^resourceServers\[0\]\.jwks\.keys\[0\]: must be a public key/),
        expect.stringMatching(/^agents\[1\]\.jwks\.keys\[0\]: must be a public key/),
      ]),
    );
  });

  it('a trusted issuer with both jwks and jwksUri, or neither', async () => {
    const { publicJwk } = await keyPair();
    const d = doc();
    d.trustedIssuers.push(
      { issuer: 'https://both.example.com', jwksUri: 'https://both.example.com/jwks', jwks: { keys: [publicJwk] }, audience: 'sts', agents: ['billing-agent'] },
      { issuer: 'https://neither.example.com', audience: 'sts', agents: ['billing-agent'] },
    );
    expect(await problemsOf(d)).toEqual([
      'trustedIssuers[0]: needs exactly one of jwksUri or jwks',
      'trustedIssuers[1]: needs exactly one of jwksUri or jwks',
    ]);
  });

  it('a trusted issuer naming an unknown agent', async () => {
    const d = doc();
    d.trustedIssuers.push({ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audience: 'sts', agents: ['ghost-agent'] });
    expect(await problemsOf(d)).toEqual(['trustedIssuers[0].agents: unknown agent "ghost-agent"']);
  });

  it('a trusted issuer accepts subject tokens by default; accepting them needs an audience, accepting only ID-JAGs does not', async () => {
    const d = doc();
    d.trustedIssuers.push(
      { issuer: 'https://obo.example.com', jwksUri: 'https://obo.example.com/jwks', agents: ['billing-agent'] },
      { issuer: 'https://both.example.com', jwksUri: 'https://both.example.com/jwks', accepts: ['id-jag', 'subject-token'], agents: ['billing-agent'] },
      { issuer: 'https://idjag.example.com', jwksUri: 'https://idjag.example.com/jwks', accepts: ['id-jag'], agents: ['billing-agent'] },
      { issuer: 'https://typo.example.com', jwksUri: 'https://typo.example.com/jwks', accepts: ['saml'], agents: ['billing-agent'] },
    );
    const problems = await problemsOf(d);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^trustedIssuers\.3\.accepts\.0: /);
    d.trustedIssuers.pop();
    expect(await problemsOf(d)).toEqual([
      'trustedIssuers[0].audience: required when it accepts subject tokens',
      'trustedIssuers[1].audience: required when it accepts subject tokens',
    ]);
    d.trustedIssuers.splice(0, 2);
    const registry = await parseRegistry(d);
    expect(registry.trustedIssuer('https://idjag.example.com')).toMatchObject({ accepts: ['id-jag'] });
  });

  it("a trusted issuer's inline keys must be public", async () => {
    const { privateJwk } = await keyPair();
    const d = doc();
    d.trustedIssuers.push({ issuer: 'https://idp.example.com', jwks: { keys: [privateJwk] }, accepts: ['id-jag'], agents: ['billing-agent'] });
    expect(await problemsOf(d)).toEqual(['trustedIssuers[0].jwks.keys[0]: must be a public key (private or symmetric key material found)']);
  });

  it('an agent without any credential', async () => {
    const d = doc();
    delete d.agents[1]!.secretHash;
    expect(await problemsOf(d)).toEqual(['agents[1]: needs secretHash or jwks']);
  });

  it('a secretHash that is not the hash-secret format (e.g. a clear-text secret)', async () => {
    const d = doc();
    d.agents[2]!.secretHash = 'plain-text-secret-0123456789abcdefghij';
    expect(await problemsOf(d)).toEqual([expect.stringMatching(/^agents\.2\.secretHash: .*hash-secret/)]);
  });

  it('lists every cross-entry problem at once', async () => {
    const { privateJwk } = await keyPair();
    const d = doc();
    d.agents[0]!.delegates = ['ghost-agent'];
    d.agents[1]!.audiences = { [API]: ['invoices:delete'] };
    d.agents[2]!.jwks = { keys: [privateJwk] };
    d.agents.push({ ...d.agents[1]! });
    expect(await problemsOf(d)).toHaveLength(5);
  });
});

describe('parseRegistry: grantTypes, and the deprecated tokenExchange alias', () => {
  const CC = 'client_credentials';
  const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
  const grantTypesOf = async (entry: Record<string, unknown>) => {
    const d = doc();
    Object.assign(d.agents[1]!, entry);
    return (await (await parseRegistry(d)).agent('sub-agent'))!;
  };

  it.each([
    ['tokenExchange true', { tokenExchange: true }, [CC, TE]],
    ['tokenExchange false', { tokenExchange: false }, [CC]],
    ['tokenExchange false beside both grant types', { grantTypes: [CC, TE], tokenExchange: false }, [CC]],
    ['tokenExchange true beside token exchange alone', { grantTypes: [TE], tokenExchange: true }, [TE]],
    ['grantTypes alone', { grantTypes: [TE] }, [TE]],
  ])('%s → grantTypes %j, no tokenExchange kept', async (_name, entry, expected) => {
    const agent = await grantTypesOf(entry);
    expect(agent.grantTypes).toEqual(expected);
    expect(agent).not.toHaveProperty('tokenExchange');
  });

  it.each([
    ['tokenExchange not a boolean', { tokenExchange: 'yes' }, /^agents\.1\.tokenExchange: /],
    ['a grant type nobody offers', { grantTypes: [CC, 'password'] }, /^agents\.1\.grantTypes\.1: /],
    ['tokenExchange false removing the only grant type', { grantTypes: [TE], tokenExchange: false }, /^agents\.1\.grantTypes: /],
  ])('%s → a problem naming the field', async (_name, entry, problem) => {
    const d = doc();
    Object.assign(d.agents[1]!, entry);
    expect(await problemsOf(d)).toEqual([expect.stringMatching(problem)]);
  });
});

describe('loadRegistryFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-sts-registry-'));

  it('loads a valid file', async () => {
    const file = path.join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify(doc()));
    expect(await (await loadRegistryFile(file)).agent('billing-agent')).toMatchObject({ id: 'billing-agent' });
  });

  it('a missing file or invalid JSON is a RegistryError naming the file', async () => {
    const missing = path.join(dir, 'missing.json');
    await expect(loadRegistryFile(missing)).rejects.toThrow(RegistryError);
    await expect(loadRegistryFile(missing)).rejects.toThrow(missing);
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{ "agents": [');
    await expect(loadRegistryFile(broken)).rejects.toThrow(RegistryError);
  });
});
