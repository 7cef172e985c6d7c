import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { expectOAuthError } from '../helpers/responses.js';
import { adminToken, API, basic, clientCredentials, exchange, introspect, startSts, type TestSts } from '../helpers/sts.js';

/**
 * The one front both stacks share: a request id on every response and in every event and log
 * line, one notion of the client address feeding one per-address limiter (now on the admin API
 * too), and one error renderer (same status line, headers and JSON shape on either stack).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ccForm = { grant_type: 'client_credentials', resource: API, scope: 'invoices:read' };

describe('HTTP front: request ids', () => {
  let sts: TestSts;
  let admin: string;
  beforeAll(async () => {
    sts = await startSts();
    admin = await adminToken(sts);
  });
  afterAll(async () => {
    await sts.close();
  });

  /** One request of each kind, on both stacks, successes and errors. */
  const requests: [string, () => request.Test][] = [
    ['POST /token (200)', () => request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form').send(ccForm)],
    ['GET /token (400)', () => request(sts.app).get('/token')],
    ['POST /introspect (200)', () => request(sts.app).post('/introspect').set('Authorization', basic(API)).type('form').send({ token: 'x' })],
    ['POST /revoke (401)', () => request(sts.app).post('/revoke').type('form').send({ token: 'x' })],
    ['GET metadata (200)', () => request(sts.app).get('/.well-known/oauth-authorization-server')],
    ['GET /jwks (200)', () => request(sts.app).get('/jwks')],
    ['GET /nowhere (404)', () => request(sts.app).get('/nowhere')],
    ['GET /admin/sessions (200)', () => request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${admin}`)],
    ['GET /admin/sessions (401)', () => request(sts.app).get('/admin/sessions')],
  ];

  it.each(requests)('%s echoes a well-formed caller X-Request-Id', async (_name, send) => {
    const id = `req-${Math.random().toString(36).slice(2)}:a.b_c-1`;
    const res = await send().set('X-Request-Id', id);
    expect(res.headers['x-request-id']).toBe(id);
  });

  it.each(requests)('%s makes up a fresh id when there is none', async (_name, send) => {
    const [a, b] = [await send(), await send()];
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it.each([
    ['too long (129 chars)', 'a'.repeat(129)],
    ['a space', 'a b'],
    ['markup', '<script>'],
    ['a quote', 'a"b'],
    ['non-ASCII', 'é'],
    ['a comma (two headers joined)', 'a,b'],
  ])('a caller id with %s is replaced, never echoed or recorded', async (_name, id) => {
    const n = sts.events.events.length;
    const res = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).set('X-Request-Id', id).type('form').send(ccForm);
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(sts.events.events.slice(n)).toEqual([expect.objectContaining({ type: 'token.issued', requestId: res.headers['x-request-id'] })]);
  });

  it('128 characters of [A-Za-z0-9._:-] is accepted, and becomes the event request id', async () => {
    const id = 'A.b_9:-'.repeat(18) + 'xy';
    expect(id).toHaveLength(128);
    const n = sts.events.events.length;
    const res = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).set('X-Request-Id', id).type('form').send(ccForm);
    expect(res.headers['x-request-id']).toBe(id);
    expect(sts.events.events.slice(n)).toEqual([expect.objectContaining({ type: 'token.issued', requestId: id })]);
  });

  it('a refusal is logged with the request id and the operator-only detail, which the body never carries', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    const app = createApp(sts.deps, pino({ level: 'info' }, sink));
    const root = await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const res = await exchange({ ...sts, app }, 'outsider-agent', root.access_token, API, 'invoices:read').set('X-Request-Id', 'detail-1');
    expectOAuthError(res, 400, 'invalid_grant');
    expect(res.text).not.toMatch(/outsider-agent|billing-agent/);
    expect(lines).toContainEqual(expect.objectContaining({
      requestId: 'detail-1', error: 'invalid_grant', detail: 'agent outsider-agent is not a delegate of billing-agent', msg: 'request refused',
    }));
  });
});

describe('HTTP front: one error renderer for both stacks', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts();
  });
  afterAll(async () => {
    await sts.close();
  });

  it('a bare node:http error (/token) and an express error (/admin) carry the same headers and shape', async () => {
    const bare = await request(sts.app).get('/token');
    const viaExpress = await request(sts.app).get('/admin/sessions?limit=1');
    for (const res of [bare, viaExpress]) {
      expect(res.headers).toMatchObject({
        'cache-control': 'no-store', pragma: 'no-cache', 'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(res.text)),
      });
      expect(res.headers['x-request-id']).toMatch(UUID);
    }
    expectOAuthError(bare, 400, 'invalid_request');
    expectOAuthError(viaExpress, 401, 'invalid_token');
  });
});

describe('HTTP front: one client address, one per-address limiter for /token and the admin API', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts({ rateLimit: { perIp: 3 }, trustProxy: 'loopback' });
  });
  afterAll(async () => {
    await sts.close();
  });

  const adminList = (ip: string) => request(sts.app).get('/admin/sessions').set('X-Forwarded-For', ip);

  it('STS_RATE_LIMIT_PER_IP applies to the admin API before authentication, with the OAuth 429 shape', async () => {
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await adminList('203.0.113.10')).status);
    expect(codes).toEqual([401, 401, 401]);
    const res = await adminList('203.0.113.10');
    expectOAuthError(res, 429, 'slow_down');
    expect(res.body).toEqual({ error: 'slow_down', error_description: 'too many requests from this address' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.headers['x-request-id']).toMatch(UUID);
  });

  it('the same address has spent its budget on /token too; another address (through the trusted proxy) has not', async () => {
    const token = (ip: string) => request(sts.app).post('/token').set('Authorization', basic('billing-agent')).set('X-Forwarded-For', ip).type('form').send(ccForm);
    expectOAuthError(await token('203.0.113.10'), 429, 'slow_down');
    expect((await token('203.0.113.11')).status).toBe(200);
    expect((await adminList('203.0.113.11')).status).toBe(401);
    expect((await introspect(sts, 'x')).status).toBe(200);
  });
});
