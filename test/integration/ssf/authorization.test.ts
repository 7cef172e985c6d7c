import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { adminToken, API, basic, clientCredentials, startSts, type TestSts } from '../../helpers/sts.js';

/**
 * What the SSF metadata says about authorization agrees with what the SSF endpoints do: they take
 * the resource server's client authentication (RFC 6749 §2.3, here client_secret_basic) and no
 * bearer token, so the metadata claims no `authorization_schemes` (SSF 1.0 §7.1.1's
 * `urn:ietf:rfc:6749` would tell a receiver to present an access token).
 */

let sts: TestSts;
let streamId: string;
beforeAll(async () => {
  sts = await startSts({ store: 'redis' });
  const made = await request(sts.app).post('/ssf/streams').set('Authorization', basic(API)).send({});
  expect(made.status).toBe(201);
  streamId = made.body.stream_id as string;
});
afterAll(async () => {
  await sts.close();
});

type Call = (authorization: string) => request.Test;
/** Every SSF endpoint, each with a request that succeeds when the caller is allowed, and the status it then answers. */
const endpoints = (): Array<[string, Call, number]> => [
  ['POST /ssf/poll', (a) => request(sts.app).post('/ssf/poll').set('Authorization', a).send({ returnImmediately: true }), 200],
  ['POST /ssf/poll/:streamId', (a) => request(sts.app).post(`/ssf/poll/${streamId}`).set('Authorization', a).send({ returnImmediately: true }), 200],
  ['GET /ssf/streams', (a) => request(sts.app).get('/ssf/streams').set('Authorization', a), 200],
  ['GET /ssf/streams?stream_id', (a) => request(sts.app).get(`/ssf/streams?stream_id=${streamId}`).set('Authorization', a), 200],
  ['POST /ssf/streams', (a) => request(sts.app).post('/ssf/streams').set('Authorization', a).send({ description: 'made here' }), 201],
  ['POST /ssf/verify', (a) => request(sts.app).post('/ssf/verify').set('Authorization', a).send({ stream_id: streamId }), 204],
  ['DELETE /ssf/streams', (a) => request(sts.app).delete(`/ssf/streams?stream_id=${streamId}`).set('Authorization', a), 204],
];

describe('SSF authorization: the metadata says what the endpoints do', () => {
  it('the transmitter metadata claims no authorization scheme', async () => {
    const res = await request(sts.app).get('/.well-known/ssf-configuration');
    expect(res.status).toBe(200);
    expect(res.body).not.toHaveProperty('authorization_schemes');
  });

  it('a bearer access token (for the resource server\'s audience, or agent-sts\'s own admin audience) is refused at every SSF endpoint: 401 invalid_client with a Basic challenge, nothing written', async () => {
    const tokens = [(await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token, await adminToken(sts)];
    const streamsBefore = await sts.deps.ssf!.store.streams(API);
    for (const token of tokens) {
      for (const [name, call] of endpoints()) {
        const res = await call(`Bearer ${token}`);
        expect({ name, status: res.status, error: res.body.error }).toEqual({ name, status: 401, error: 'invalid_client' });
        expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
      }
    }
    expect(await sts.deps.ssf!.store.streams(API)).toEqual(streamsBefore);
  });

  it('the resource server\'s client authentication (client_secret_basic) is taken at every SSF endpoint', async () => {
    for (const [name, call, status] of endpoints()) expect({ name, status: (await call(basic(API))).status }).toEqual({ name, status });
  });
});
