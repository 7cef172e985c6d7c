import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, jwtVerify } from 'jose';
import request from 'supertest';
import { SSF_VERIFICATION } from 'agent-sts-gate/protocol';
import { expectOAuthError, sidOf } from '../../helpers/responses.js';
import { adminToken, API, basic, clientCredentials, ISSUER, OTHER_API, startSts, type TestSts } from '../../helpers/sts.js';

/**
 * SSF stream management, as far as resource servers need it: a resource server creates a poll
 * stream of its own, reads and deletes it, and asks for a verification event; another resource
 * server can neither see nor read it.
 */

let sts: TestSts;
beforeAll(async () => {
  sts = await startSts({ store: 'redis' });
});
afterAll(async () => {
  await sts.close();
});

const create = (rs: string, body: Record<string, unknown> = {}) => request(sts.app).post('/ssf/streams').set('Authorization', basic(rs)).send(body);
const pollAt = (url: string, rs: string, body: Record<string, unknown> = {}) =>
  request(sts.app).post(new URL(url).pathname).set('Authorization', basic(rs)).send({ returnImmediately: true, ...body });

describe('SSF stream management', () => {
  it('create: 201 with a poll endpoint of its own; a kill after it is read there, and an ack there moves only that stream', async () => {
    const res = await create(API, { description: 'replica 1' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      stream_id: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/), iss: ISSUER, aud: API, description: 'replica 1',
      delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: `${ISSUER}/ssf/poll/${res.body.stream_id}` },
      events_supported: expect.arrayContaining(['https://schemas.openid.net/secevent/caep/event-type/session-revoked', SSF_VERIFICATION]),
    });
    const url = res.body.delivery.endpoint_url as string;
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const admin = await adminToken(sts);
    expect((await request(sts.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${admin}`)).status).toBe(200);
    const first = await pollAt(url, API);
    expect(first.status).toBe(200);
    const jtis = Object.keys(first.body.sets);
    expect(jtis.length).toBeGreaterThanOrEqual(1);
    expect((await pollAt(url, API, { ack: jtis })).body.sets).toEqual({});
    // the resource server's default stream still has them: positions are per stream
    const other = await request(sts.app).post('/ssf/poll').set('Authorization', basic(API)).send({ returnImmediately: true });
    expect(Object.keys(other.body.sets)).toEqual(expect.arrayContaining(jtis));
  });

  it('read: the list and one stream, for its owner only; another resource server gets 404 and cannot poll it', async () => {
    const { body: made } = await create(API);
    const list = await request(sts.app).get('/ssf/streams').set('Authorization', basic(API));
    expect(list.status).toBe(200);
    expect(list.body.map((s: { stream_id: string }) => s.stream_id)).toContain(made.stream_id);
    const one = await request(sts.app).get(`/ssf/streams?stream_id=${made.stream_id}`).set('Authorization', basic(API));
    expect(one.body).toMatchObject({ stream_id: made.stream_id, aud: API });
    expectOAuthError(await request(sts.app).get(`/ssf/streams?stream_id=${made.stream_id}`).set('Authorization', basic(OTHER_API)), 404, 'not_found');
    expect((await request(sts.app).get('/ssf/streams').set('Authorization', basic(OTHER_API))).body.map((s: { stream_id: string }) => s.stream_id)).not.toContain(made.stream_id);
    expectOAuthError(await pollAt(made.delivery.endpoint_url, OTHER_API), 404, 'not_found');
    expectOAuthError(await request(sts.app).get('/ssf/streams').set('Authorization', basic('billing-agent')), 401, 'invalid_client');
  });

  it('verification: the SET comes on the stream, signed, its subject the stream, the state echoed', async () => {
    const { body: made } = await create(API);
    await pollAt(made.delivery.endpoint_url, API); // nothing yet
    const v = await request(sts.app).post('/ssf/verify').set('Authorization', basic(API)).send({ stream_id: made.stream_id, state: 'xyz' });
    expect(v.status).toBe(204);
    const sets = Object.values((await pollAt(made.delivery.endpoint_url, API)).body.sets as Record<string, string>);
    const jwks = createLocalJWKSet((await request(sts.app).get('/jwks')).body);
    const payloads = await Promise.all(sets.map(async (s) => (await jwtVerify(s, jwks, { issuer: ISSUER, audience: API, typ: 'secevent+jwt' })).payload));
    expect(payloads.filter((p) => (p.events as Record<string, unknown>)[SSF_VERIFICATION])).toEqual([
      expect.objectContaining({ sub_id: { format: 'opaque', id: made.stream_id }, events: { [SSF_VERIFICATION]: { state: 'xyz' } } }),
    ]);
    expectOAuthError(await request(sts.app).post('/ssf/verify').set('Authorization', basic(API)).send({ stream_id: 'nope' }), 404, 'not_found');
    expectOAuthError(await request(sts.app).post('/ssf/verify').set('Authorization', basic(OTHER_API)).send({ stream_id: made.stream_id }), 404, 'not_found');
  });

  it('delete: 204, then it is gone (404 to read, delete or poll); bad input is a 400', async () => {
    const { body: made } = await create(API);
    const del = (rs: string) => request(sts.app).delete(`/ssf/streams?stream_id=${made.stream_id}`).set('Authorization', basic(rs));
    expectOAuthError(await del(OTHER_API), 404, 'not_found');
    expect((await del(API)).status).toBe(204);
    expectOAuthError(await del(API), 404, 'not_found');
    expectOAuthError(await pollAt(made.delivery.endpoint_url, API), 404, 'not_found');
    expectOAuthError(await request(sts.app).delete('/ssf/streams').set('Authorization', basic(API)), 400, 'invalid_request');
    expectOAuthError(await request(sts.app).get('/ssf/streams?stream_id=a%20b').set('Authorization', basic(API)), 400, 'invalid_request');
    expectOAuthError(await create(API, { delivery: { method: 'urn:ietf:rfc:8935' } }), 400, 'invalid_request');
  });

  it('the metadata names the configuration and verification endpoints', async () => {
    const res = await request(sts.app).get('/.well-known/ssf-configuration');
    expect(res.body).toMatchObject({ configuration_endpoint: `${ISSUER}/ssf/streams`, verification_endpoint: `${ISSUER}/ssf/verify` });
  });
});
