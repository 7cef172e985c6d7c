import { assertionId } from '../../src/clients/authenticate.js';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import request from 'supertest';
import { API, claims, ISSUER, redisState, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * Single use under concurrency: one private_key_jwt client assertion (RFC 7523) raced from 50
 * concurrent /token requests. Its jti is spent atomically (SET NX in Redis), so exactly one
 * request wins: one 200, 49 × 401 invalid_client, and exactly one session stored.
 */

type Res = request.Response;
const RACERS = 50;
const KID = 'race-agent-key-1';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('a client assertion raced from 50 concurrent /token requests: exactly one wins', () => {
  let sts: TestSts;
  let server: Server;
  let agentKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    agentKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kty: 'EC', kid: KID, alg: 'ES256', use: 'sig' };
    sts = await startSts({
      registry: testRegistry({
        agents: [{ id: 'race-agent', jwks: { keys: [publicJwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60 }],
      }),
    });
    server = createServer(sts.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sts.close();
  });

  const assertion = (jti: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti })
      .setProtectedHeader({ alg: 'ES256', kid: KID })
      .setIssuer('race-agent')
      .setSubject('race-agent')
      .setAudience(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(agentKey);
  };

  const tokenRequest = (clientAssertion: string): Promise<Res> =>
    request(server)
      .post('/token')
      .type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: clientAssertion })
      .then((r) => r);

  const race = (clientAssertion: string) => Promise.all(Array.from({ length: RACERS }, () => tokenRequest(clientAssertion)));

  const sessionsOf = async () => sts.redis!.zrange(sts.keys!.agentIndex('race-agent'), '0', '-1');

  // One session of race-agent before any test: its indexes exist, so every test sees only its own new keys.
  beforeAll(async () => {
    expect((await tokenRequest(await assertion(randomUUID()))).status).toBe(200);
  });

  it('control: 50 concurrent requests with 50 distinct assertions all succeed', async () => {
    const sessionsBefore = new Set(await sessionsOf());
    const assertions = await Promise.all(Array.from({ length: RACERS }, () => assertion(randomUUID())));
    const results = await Promise.all(assertions.map(tokenRequest));
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    const sids = new Set(results.map((r) => claims(r.body.access_token as string).sid as string));
    expect(sids.size).toBe(RACERS);
    const fresh = (await sessionsOf()).filter((sid) => !sessionsBefore.has(sid));
    expect(fresh).toHaveLength(RACERS);
    expect(new Set(fresh)).toEqual(sids);
  });

  it.each([1, 2, 3])('round %i: one assertion, 50 racers → one 200, 49 × 401 invalid_client, one session', async () => {
    const jti = randomUUID();
    const signed = await assertion(jti);
    const sessionsBefore = new Set(await sessionsOf());
    const keysBefore = new Set(await redisState(sts));
    const n = sts.events.events.length;

    const results = await race(signed);

    const winners = results.filter((r) => r.status === 200);
    const losers = results.filter((r) => r.status !== 200);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(RACERS - 1);
    for (const r of losers) {
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
      expect(r.headers['www-authenticate']).toBeUndefined(); // no Basic attempted
      expect(r.text).not.toContain('access_token');
    }
    const token = winners[0]!.body.access_token as string;
    expect(claims(token)).toMatchObject({ client_id: 'race-agent', aud: API, scope: 'invoices:read' });
    const sid = claims(token).sid as string;

    // Exactly one new session, and it is the winner's; the jti is marked used.
    const fresh = (await sessionsOf()).filter((s) => !sessionsBefore.has(s));
    expect(fresh).toEqual([sid]);
    const k = sts.keys!;
    const newKeys = (await redisState(sts)).filter((key) => !keysBefore.has(key));
    expect(newKeys.sort()).toEqual([k.session(sid), k.usedOnce('client-assertion', assertionId('race-agent', jti))].sort());
    expect(await sts.redis!.exists(k.usedOnce('client-assertion', assertionId('race-agent', jti)))).toBe(1);

    // One token.issued; 49 token.denied invalid_client that name no agent.
    const events = sts.events.events.slice(n);
    expect(events.filter((e) => e.type === 'token.issued')).toEqual([expect.objectContaining({ sid, agent: 'race-agent' })]);
    const denied = events.filter((e) => e.type === 'token.denied');
    expect(denied).toHaveLength(RACERS - 1);
    for (const e of denied) {
      expect(e).toMatchObject({ error: 'invalid_client' });
      expect(e).not.toHaveProperty('agent');
    }
  });

  it('the spent jti stays spent: the same assertion again, and a new signature over the same jti, are refused', async () => {
    const jti = randomUUID();
    const first = await tokenRequest(await assertion(jti));
    expect(first.status).toBe(200);
    const keysBefore = await redisState(sts);
    for (const again of [await assertion(jti), await assertion(jti)]) {
      const res = await tokenRequest(again);
      expect({ status: res.status, body: res.body as unknown }).toEqual({
        status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' },
      });
    }
    expect(await redisState(sts)).toEqual(keysBefore);
  });
});
