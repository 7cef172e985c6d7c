import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Registry, TrustedIssuer } from '../../src/clients/types.js';
import { JWKS_CACHE_MAX_AGE_MS, JWKS_COOLDOWN_MS, UPSTREAM_KEY_SETS_MAX, UpstreamKeySets } from '../../src/oauth/upstream/key-sets.js';
import { idJagProfile } from '../../src/oauth/upstream/id-jag.js';
import { SUBJECT_TOKEN_PROFILES } from '../../src/oauth/upstream/subject-token.js';
import { upstreamVerifier } from '../../src/oauth/upstream/verify.js';

/**
 * The trusted issuers' key sets: fetched once and reused, keyed by issuer and key source (a changed
 * jwksUri or jwks never verifies with the old keys), bounded (least recently used evicted), and
 * refreshed when the issuer rotates; shared by every upstream profile. JWKS servers on 127.0.0.1
 * count what they serve.
 */

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'http://sts.test';

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}
async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}
const userToken = (key: Key, iss = ISSUER) =>
  new SignJWT({ scope: 'invoices:read' }).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
    .setIssuer(iss).setAudience(AUDIENCE).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(key.privateKey);

/** A JWKS endpoint serving `keys` (changeable), counting fetches. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  readonly server: Server = createServer((_req, res) => {
    this.fetches++;
    res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: this.keys }));
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks`;
  }
  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** RFC 8693's subject-token profile (an RFC 9068 access token) over `sets`, presented by billing-agent. */
function subjectTokens(issuers: Map<string, TrustedIssuer>, sets = new UpstreamKeySets()) {
  const verify = upstreamVerifier(SUBJECT_TOKEN_PROFILES.access_token, { registry: registryOf(issuers), keySets: sets, nowMs: Date.now });
  return { verify: (token: string) => verify(token, 'billing-agent') };
}

/** A registry whose trusted issuers a test changes between calls, as the live registry will. */
function registryOf(issuers: Map<string, TrustedIssuer>): Registry {
  return { agent: () => undefined, resourceServer: () => undefined, trustedIssuer: (iss) => issuers.get(iss) };
}
const trusted = (source: { jwksUri: string } | { jwks: { keys: JWK[] } }, issuer = ISSUER): TrustedIssuer => ({
  issuer, audience: AUDIENCE, accepts: ['subject-token', 'id-jag'], agents: ['billing-agent'], algorithms: ['ES256'], ...source,
});

describe('upstream key sets', () => {
  let a: JwksServer;
  let b: JwksServer;
  let keyA: Key;
  let keyB: Key;

  beforeAll(async () => {
    [a, b] = await Promise.all([new JwksServer().start(), new JwksServer().start()]);
    [keyA, keyB] = await Promise.all([newKey('key-a'), newKey('key-b')]);
  });
  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  const fresh = () => {
    a.fetches = 0;
    b.fetches = 0;
    a.keys = [keyA.jwk];
    b.keys = [keyB.jwk];
  };

  it('named defaults: bounded, with an explicit max age and cooldown', () => {
    expect({ UPSTREAM_KEY_SETS_MAX, JWKS_CACHE_MAX_AGE_MS, JWKS_COOLDOWN_MS }).toEqual({
      UPSTREAM_KEY_SETS_MAX: 64, JWKS_CACHE_MAX_AGE_MS: 600_000, JWKS_COOLDOWN_MS: 30_000,
    });
  });

  it('a remote set is fetched once and reused while fresh', async () => {
    fresh();
    const verifier = subjectTokens(new Map([[ISSUER, trusted({ jwksUri: a.url })]]), new UpstreamKeySets());
    for (let i = 0; i < 3; i++) await expect(verifier.verify(await userToken(keyA))).resolves.toMatchObject({ sub: 'alice' });
    expect(a.fetches).toBe(1);
  });

  it('an issuer whose jwksUri changed gets the new source at once and no longer verifies with the old keys', async () => {
    fresh();
    const issuers = new Map([[ISSUER, trusted({ jwksUri: a.url })]]);
    const verifier = subjectTokens(issuers, new UpstreamKeySets());
    const oldToken = await userToken(keyA);
    await expect(verifier.verify(oldToken)).resolves.toMatchObject({ sub: 'alice' });
    issuers.set(ISSUER, trusted({ jwksUri: b.url }));
    await expect(verifier.verify(oldToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(verifier.verify(await userToken(keyB))).resolves.toMatchObject({ sub: 'alice' });
    expect({ a: a.fetches, b: b.fetches }).toEqual({ a: 1, b: 1 });
  });

  it('an issuer whose inline jwks changed verifies only with the new keys; a removed issuer is refused', async () => {
    fresh();
    const issuers = new Map([[ISSUER, trusted({ jwks: { keys: [keyA.jwk] } })]]);
    const verifier = subjectTokens(issuers, new UpstreamKeySets());
    const oldToken = await userToken(keyA);
    await expect(verifier.verify(oldToken)).resolves.toMatchObject({ sub: 'alice' });
    issuers.set(ISSUER, trusted({ jwks: { keys: [keyB.jwk] } }));
    await expect(verifier.verify(oldToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(verifier.verify(await userToken(keyB))).resolves.toMatchObject({ sub: 'alice' });
    issuers.delete(ISSUER);
    await expect(verifier.verify(await userToken(keyB))).rejects.toMatchObject({
      error: 'invalid_grant', description: 'subject token is not from a trusted issuer',
    });
  });

  it('the same issuer name on two sources is two sets; the same source is one', () => {
    const sets = new UpstreamKeySets();
    const first = sets.of(trusted({ jwksUri: a.url }));
    expect(sets.of(trusted({ jwksUri: a.url }))).toBe(first);
    expect(sets.of(trusted({ jwksUri: b.url }))).not.toBe(first);
    expect(sets.of(trusted({ jwks: { keys: [keyA.jwk] } }))).not.toBe(first);
    expect(sets.size).toBe(3);
  });

  it('bounded: past maxEntries the least recently used set is dropped (and fetched again when next needed)', async () => {
    fresh();
    const max = 3;
    const sets = new UpstreamKeySets({ maxEntries: max });
    const issuers = new Map<string, TrustedIssuer>([[ISSUER, trusted({ jwksUri: a.url })]]);
    const verifier = subjectTokens(issuers, sets);
    await verifier.verify(await userToken(keyA));
    const others = Array.from({ length: max }, (_, i) => trusted({ jwks: { keys: [keyB.jwk] } }, `https://other-${i}.example.com`));
    // Used recently, the remote set survives one more entry; then it is the oldest and goes.
    sets.of(others[0]!);
    sets.of(others[1]!);
    await verifier.verify(await userToken(keyA));
    sets.of(others[2]!);
    expect(sets.size).toBe(max);
    expect(a.fetches).toBe(1);
    sets.of(others[0]!);
    sets.of(others[1]!);
    expect(sets.size).toBe(max);
    await verifier.verify(await userToken(keyA));
    expect(a.fetches).toBe(2);
    expect(sets.size).toBe(max);
  });

  it('an issuer that rotated: a token with a kid the cached set lacks refetches the set (past the cooldown) and verifies', async () => {
    fresh();
    const verifier = subjectTokens(new Map([[ISSUER, trusted({ jwksUri: a.url })]]), new UpstreamKeySets({ cooldownMs: 0 }));
    await verifier.verify(await userToken(keyA));
    a.keys = [keyA.jwk, keyB.jwk];
    await expect(verifier.verify(await userToken(keyB))).resolves.toMatchObject({ sub: 'alice' });
    expect(a.fetches).toBe(2);
  });

  it('cacheMaxAge 0: every verification fetches (the max age is what jose is given)', async () => {
    fresh();
    const verifier = subjectTokens(new Map([[ISSUER, trusted({ jwksUri: a.url })]]), new UpstreamKeySets({ cacheMaxAgeMs: 0 }));
    for (let i = 0; i < 3; i++) await verifier.verify(await userToken(keyA));
    expect(a.fetches).toBe(3);
  });

  /**
   * A second profile over the same issuer, the ID-JAG grant's (RFC 7523 with
   * draft-ietf-oauth-identity-assertion-authz-grant: typ oauth-id-jag+jwt, aud = this server,
   * client_id naming the agent): it verifies with the key set the subject-token profile fetched.
   */
  const STS = 'https://sts.example.com';
  const idJagProfileHere = idJagProfile(STS);
  const idJag = (key: Key) =>
    new SignJWT({ client_id: 'billing-agent', resource: 'https://api.example.com', scope: 'invoices:read' }).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'oauth-id-jag+jwt' })
      .setIssuer(ISSUER).setAudience(STS).setSubject('alice').setJti('j-1').setIssuedAt().setExpirationTime('5m').sign(key.privateKey);

  it('two profiles over one trusted issuer share one key fetch, each checking its own typ and audience', async () => {
    fresh();
    const sets = new UpstreamKeySets();
    const issuers = new Map([[ISSUER, trusted({ jwksUri: a.url })]]);
    const subjects = subjectTokens(issuers, sets);
    const assertions = upstreamVerifier(idJagProfileHere, { registry: registryOf(issuers), keySets: sets, nowMs: Date.now });
    await expect(subjects.verify(await userToken(keyA))).resolves.toMatchObject({ sub: 'alice', scope: ['invoices:read'] });
    await expect(assertions(await idJag(keyA), 'billing-agent')).resolves.toMatchObject({ sub: 'alice', clientId: 'billing-agent', issuer: { issuer: ISSUER } });
    expect({ fetches: a.fetches, sets: sets.size }).toEqual({ fetches: 1, sets: 1 });
    // Same keys, different profiles: neither token passes as the other.
    await expect(subjects.verify(await idJag(keyA))).rejects.toMatchObject({ error: 'invalid_grant', reason: 'subject_not_access_token' });
    await expect(assertions(await userToken(keyA), 'billing-agent')).rejects.toMatchObject({ error: 'invalid_grant', reason: 'assertion_wrong_type' });
    await expect(assertions(await idJag(keyA), 'sub-agent')).rejects.toMatchObject({ error: 'invalid_grant', reason: 'not_allowed_for_issuer' });
    expect(a.fetches).toBe(1);
  });

  it("an issuer is trusted only for the kinds its `accepts` lists: any other is refused before a key is fetched", async () => {
    fresh();
    const sets = new UpstreamKeySets();
    const issuers = new Map<string, TrustedIssuer>([[ISSUER, { ...trusted({ jwksUri: a.url }), accepts: ['subject-token'] }]]);
    const subjects = subjectTokens(issuers, sets);
    const assertions = upstreamVerifier(idJagProfileHere, { registry: registryOf(issuers), keySets: sets, nowMs: Date.now });
    await expect(assertions(await idJag(keyA), 'billing-agent')).rejects.toMatchObject({ error: 'invalid_grant', reason: 'issuer_not_trusted' });
    expect(a.fetches).toBe(0);
    issuers.set(ISSUER, { ...trusted({ jwksUri: a.url }), accepts: ['id-jag'] });
    await expect(subjects.verify(await userToken(keyA))).rejects.toMatchObject({ error: 'invalid_grant', reason: 'issuer_not_trusted' });
    expect(a.fetches).toBe(0);
    await expect(assertions(await idJag(keyA), 'billing-agent')).resolves.toMatchObject({ sub: 'alice', resources: ['https://api.example.com'] });
    expect(a.fetches).toBe(1);
  });
});
