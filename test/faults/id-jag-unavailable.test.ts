import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { GRANT_TYPES } from 'agent-sts-gate/protocol';
import { assertionId } from '../../src/clients/authenticate.js';
import { Faults } from '../helpers/faults.js';
import { startIdJagIdp, type IdJagIdp } from '../helpers/id-jag-idp.js';
import { startRedis, type RedisProcess } from '../helpers/redis-server.js';
import { basic, ISSUER, redisState, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * The ID-JAG grant fails closed: with Redis down, or failing at the jti's spend or the session's
 * create, it answers 503 and issues nothing; a spend that failed leaves the ID-JAG usable, a create
 * that failed after the spend says so (the client gets a new ID-JAG).
 */
const JWT_BEARER = GRANT_TYPES.jwtBearer;

let idp: IdJagIdp;
beforeAll(async () => {
  idp = await startIdJagIdp();
});
afterAll(async () => {
  await idp.close();
});

const registry = () => {
  const doc = testRegistry({ trustedIssuers: [{ issuer: idp.issuer, jwks: idp.jwks, accepts: ['id-jag'], agents: ['billing-agent'] }] });
  doc.agents!.find((a) => a.id === 'billing-agent')!.grantTypes!.push(JWT_BEARER);
  return doc;
};
const post = (sts: TestSts, assertion: string) =>
  request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form').send({ grant_type: JWT_BEARER, assertion });
const issuedIn = (sts: TestSts) => sts.events.events.filter((e) => e.type === 'token.issued');

describe('ID-JAG with the store failing', () => {
  let redis: RedisProcess | undefined;
  let sts: TestSts | undefined;
  afterEach(async () => {
    await sts?.close();
    await redis?.stop();
    sts = undefined;
    redis = undefined;
  });

  it('Redis killed: 503 temporarily_unavailable, nothing issued', async () => {
    redis = await startRedis();
    sts = await startSts({ redisUrl: redis.url, commandTimeoutMs: 200, registry: registry() });
    await redis.kill();
    const res = await post(sts, await idp.idJag({ aud: ISSUER, client_id: 'billing-agent' }));
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: 'session store unavailable' });
    expect(res.headers['retry-after']).toBe('1');
    expect(issuedIn(sts)).toEqual([]);
  });

  it('the spend fails: 503, the ID-JAG stays unspent and is honoured once the store is back', async () => {
    const faults = new Faults();
    sts = await startSts({ registry: registry(), faults });
    const assertion = await idp.idJag({ aud: ISSUER, client_id: 'billing-agent' });
    const keys = await redisState(sts);
    faults.fail('sessions.useOnce');
    expect((await post(sts, assertion)).status).toBe(503);
    expect(faults.fired).toEqual(['sessions.useOnce']);
    expect(await redisState(sts)).toEqual(keys);
    faults.heal();
    expect((await post(sts, assertion)).status).toBe(200);
  });

  it('the create fails after the spend: 503 saying the ID-JAG is used, no session; the same ID-JAG is then refused as replayed', async () => {
    const faults = new Faults();
    sts = await startSts({ registry: registry(), faults });
    const assertion = await idp.idJag({ aud: ISSUER, client_id: 'billing-agent' });
    const keys = await redisState(sts);
    faults.fail('sessions.create');
    const res = await post(sts, assertion);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: 'unavailable after the assertion was used: retry with a new ID-JAG from your IdP' });
    expect(res.headers['retry-after']).toBe('1');
    expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', reason: 'assertion_spent_unavailable' });
    expect(issuedIn(sts)).toEqual([]);
    // what changed: the jti's spent key, and nothing else
    const jti = JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()).jti as string;
    expect(await redisState(sts)).toEqual([...keys, sts.keys!.usedOnce('id-jag', assertionId(idp.issuer, jti))].sort());
    faults.heal();
    expect((await post(sts, assertion)).body).toMatchObject({ error: 'invalid_grant' });
    expect((await post(sts, await idp.idJag({ aud: ISSUER, client_id: 'billing-agent' }))).status).toBe(200);
  });
});
