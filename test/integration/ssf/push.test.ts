import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import request from 'supertest';
import { CAEP_SESSION_REVOKED, SET_MEDIA_TYPE, SET_TYP } from 'agent-sts-gate/protocol';
import { hashSecret } from '../../../src/clients/secret.js';
import { pushEndpointProblem } from '../../../src/push/admin.js';
import { expectOAuthError, sidOf } from '../../helpers/responses.js';
import { ADMIN_AUD, API, basic, clientCredentials, ISSUER, kill, OTHER_API, SECRETS, startSts, testRegistry, type TestSts } from '../../helpers/sts.js';
import { listen } from '../../helpers/http.js';
import { until } from '../../helpers/wait.js';

/**
 * SSF push (RFC 8935): a resource server registers an endpoint through the admin API; agent-sts
 * POSTs each of its SETs there as application/secevent+jwt, retries a failing receiver with
 * growing waits, reports it (audit trail) without dropping anything, follows no redirect, and any
 * instance resumes the delivery from the state in Redis.
 */

const PUSH_ADMIN = 'push-admin';
type Mode = 'fail' | 'redirect' | 'ok';

interface Received {
  path: string;
  type: string | undefined;
  authorization: string | undefined;
  body: string;
  answered: number;
}

let a: TestSts;
let receiver: Awaited<ReturnType<typeof listen>>;
let mode: Mode = 'fail';
const received: Received[] = [];

beforeAll(async () => {
  receiver = await listen((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const status = req.url === '/events' ? (mode === 'ok' ? 202 : mode === 'redirect' ? 302 : 500) : 202;
      received.push({ path: req.url ?? '', type: req.headers['content-type'], authorization: req.headers.authorization, body, answered: status });
      res.writeHead(status, status === 302 ? { location: `${receiver.url}/elsewhere` } : {}).end();
    });
  });
  const registry = testRegistry({ agents: [{ id: PUSH_ADMIN, secretHash: hashSecret(SECRETS.admin!), audiences: { [ADMIN_AUD]: ['agents:manage', 'agents:read', 'sessions:kill'] } }] });
  a = await startSts({ store: 'redis', registry, ssfPushRetryMs: 20 });
});
afterAll(async () => {
  await receiver.close();
  await a.close();
});

async function pushAdmin(sts: TestSts): Promise<string> {
  const res = await request(sts.app).post('/token').set('Authorization', basic(PUSH_ADMIN, SECRETS.admin!)).type('form')
    .send({ grant_type: 'client_credentials', audience: ADMIN_AUD, scope: 'agents:manage agents:read sessions:kill' });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}
const killAs = async (sts: TestSts, sid: string) => kill(sts, sid, { admin: await pushAdmin(sts) });
const accepted = () => received.filter((r) => r.answered === 202 && r.path === '/events');

describe('SSF push', () => {
  it('registration: PUT stores it (the authorization value is never shown), GET reads it; bad input is refused', async () => {
    const admin = await pushAdmin(a);
    const url = `/admin/resource-servers/${encodeURIComponent(API)}/ssf-push`;
    const put = await request(a.app).put(url).set('Authorization', `Bearer ${admin}`).send({ endpoint: `${receiver.url}/events`, authorization: 'Bearer receiver-token' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ endpoint: `${receiver.url}/events`, authorization: true });
    const got = await request(a.app).get(url).set('Authorization', `Bearer ${admin}`);
    expect(got.body).toEqual({ endpoint: `${receiver.url}/events`, authorization: true, delivery: { failing: false, attempts: 0, lastError: null, failingSince: null } });
    expect(JSON.stringify(got.body)).not.toContain('receiver-token');
    expectOAuthError(await request(a.app).put(url).set('Authorization', `Bearer ${admin}`).send({ endpoint: 'not a url' }), 400, 'invalid_request');
    expectOAuthError(await request(a.app).put(url).set('Authorization', `Bearer ${admin}`).send({ endpoint: `${receiver.url}/x`, extra: 1 }), 400, 'invalid_request');
    expectOAuthError(await request(a.app).put(url).set('Authorization', `Bearer ${admin}`).send({ endpoint: 'https://u:p@rs.example.com/' }), 400, 'invalid_request');
    expectOAuthError(await request(a.app).put('/admin/resource-servers/nobody/ssf-push').set('Authorization', `Bearer ${admin}`).send({ endpoint: 'https://rs.example.com/' }), 404, 'not_found');
    const reader = (await clientCredentials(a, 'auditor', ADMIN_AUD, 'agents:read')).access_token;
    expect((await request(a.app).put(url).set('Authorization', `Bearer ${reader}`).send({ endpoint: 'https://rs.example.com/' })).status).toBe(403);
    expect(await a.redis!.hget(a.keys!.ssfPush(API), 'authorization')).toBe('Bearer receiver-token');
  });

  it('only https outside development and test', () => {
    expect(pushEndpointProblem('http://rs.example.com/events', false)).toBe('endpoint must be https');
    expect(pushEndpointProblem('https://rs.example.com/events', false)).toBeUndefined();
    expect(pushEndpointProblem('http://127.0.0.1:1/events', true)).toBeUndefined();
    expect(pushEndpointProblem('ftp://rs.example.com/', true)).toBe('endpoint must be http or https');
  });

  it('a receiver that fails (and one that redirects) is retried with growing waits and reported once; nothing is dropped; when it recovers it gets every SET once, in order', async () => {
    mode = 'redirect';
    const t1 = (await clientCredentials(a, 'billing-agent', API, 'invoices:read')).access_token;
    const t2 = (await clientCredentials(a, 'billing-agent', API, 'invoices:read')).access_token;
    await killAs(a, sidOf(t1));
    await until(() => received.some((r) => r.answered === 302), 'a redirected push');
    mode = 'fail';
    await killAs(a, sidOf(t2));
    await until(() => a.events.events.some((e) => e.type === 'resource_server.push_failing'), 'the failing receiver is reported', 10_000);
    expect(received.filter((r) => r.path === '/elsewhere')).toEqual([]); // the redirect was not followed
    expect(accepted()).toEqual([]);
    const failing = a.events.events.filter((e) => e.type === 'resource_server.push_failing');
    expect(failing).toEqual([expect.objectContaining({ resourceServer: API, attempts: 5, error: 'http 5xx', actor: null })]);
    const state = JSON.parse((await a.redis!.hget(a.keys!.ssfPush(API), 'state'))!) as { attempts: number; nextAtMs: number; failingSinceMs: number };
    expect(state.attempts).toBeGreaterThanOrEqual(5);
    // the waits grow: attempt n waits retry × 2^(n-1), so the next one is at least 20 × 16 ms after the last failure
    expect(state.nextAtMs - state.failingSinceMs).toBeGreaterThanOrEqual(20 * 16);

    mode = 'ok';
    await until(() => accepted().length >= 2, 'the recovered receiver gets both SETs', 10_000);
    await until(() => a.events.events.some((e) => e.type === 'resource_server.push_recovered'), 'the recovery is recorded');
    const jwks = createLocalJWKSet((await request(a.app).get('/jwks')).body);
    const sets = await Promise.all(accepted().map(async (r) => {
      expect(r.type).toBe(SET_MEDIA_TYPE);
      expect(r.authorization).toBe('Bearer receiver-token');
      return (await jwtVerify(r.body, jwks, { issuer: ISSUER, audience: API, typ: SET_TYP })).payload;
    }));
    const sids = sets.map((p) => ((p.events as Record<string, { revoked_sessions: { sid: string }[] }>)[CAEP_SESSION_REVOKED]!.revoked_sessions.map((s) => s.sid)));
    expect(sids).toEqual([[sidOf(t1)], [sidOf(t2)]]);
    const admin = await pushAdmin(a);
    const got = await request(a.app).get(`/admin/resource-servers/${encodeURIComponent(API)}/ssf-push`).set('Authorization', `Bearer ${admin}`);
    expect(got.body.delivery).toEqual({ failing: false, attempts: 0, lastError: null, failingSince: null });
    expect(accepted()).toHaveLength(2);
  });

  it('another instance resumes delivery from the state in Redis; a resource server without a registration gets no pushes', async () => {
    a.deps.ssf!.delivery!.close();
    const b = await startSts({ store: 'redis', prefix: a.prefix, registry: testRegistry({ agents: [{ id: PUSH_ADMIN, secretHash: hashSecret(SECRETS.admin!), audiences: { [ADMIN_AUD]: ['sessions:kill'] } }] }) });
    try {
      const before = accepted().length;
      const t = (await clientCredentials(a, 'billing-agent', API, 'invoices:read')).access_token;
      const other = (await clientCredentials(a, 'billing-agent', OTHER_API, 'reports:read')).access_token;
      await killAs(a, sidOf(t)); // on a, whose delivery is stopped
      await killAs(a, sidOf(other));
      await until(() => accepted().length === before + 1, 'b pushes the SET a recorded');
      // the next one after what was acknowledged, not a redelivery of an earlier one
      expect(accepted()[before]!.body.split('.')[1]).toBeDefined();
      expect(Buffer.from(accepted()[before]!.body.split('.')[1]!, 'base64url').toString()).toContain(sidOf(t));
      expect(received.every((r) => !r.body.includes(sidOf(other)))).toBe(true);
    } finally {
      await b.close();
      a.deps.ssf!.delivery!.start();
    }
  });
});
