import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import type { Socket } from 'node:net';
import request from 'supertest';
import { requireToken, revocationFeed, type RequireTokenOptions } from 'agent-sts-gate/express';
import { hashSecret } from '../../src/clients/secret.js';
import { API, clientCredentials, SECRETS, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { sidOf } from '../helpers/responses.js';
import { listen } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

/**
 * What a gate owns: its connections to agent-sts (a pool per gate, closed with it, never one for the
 * whole process), and the credentials it sends, encoded by the client kit whatever characters the
 * resource server's id and secret hold.
 */

/** A resource server whose id (a URI) and secret hold what client_secret_basic must form-encode. */
const SPACED_RS = 'https://api.example.com/my api';
const SPACED_SECRET = 'a secret: with spaces, + plus, % percent, é and 日本';

let sts: TestSts;
let issuer: string;
let server: Awaited<ReturnType<typeof listen>>;
/** The sockets /introspect requests arrived on, and those closed since. */
const introspectSockets = new Set<Socket>();
const closed = new Set<Socket>();

beforeAll(async () => {
  server = await listen();
  // Node's client drops a connection 1 s before the server's keep-alive hint: the helper's 1 s would allow no reuse.
  server.server.keepAliveTimeout = 10_000;
  issuer = server.url;
  const registry = testRegistry({ resourceServers: [{ id: SPACED_RS, secretHash: hashSecret(SPACED_SECRET), scopes: ['invoices:read'] }] });
  registry.agents![0]!.audiences[SPACED_RS] = ['invoices:read'];
  sts = await startSts({ store: 'memory', issuer, registry });
  server.handle((req, res) => {
    if (req.url === '/introspect' && !introspectSockets.has(req.socket)) {
      introspectSockets.add(req.socket);
      req.socket.on('close', () => closed.add(req.socket));
    }
    sts.app(req, res);
  });
});
afterAll(async () => {
  await server.close();
  await sts.close();
});

const appWith = (gate: express.RequestHandler) => express().get('/invoices', gate, (_req, res) => res.json({ ok: true }));
const get = (app: express.Express, token: string) => request(app).get('/invoices').set('Authorization', `Bearer ${token}`);

describe('connections to agent-sts belong to the gate', () => {
  it('two gates keep a connection each; closing one closes its own and leaves the other\'s in use', async () => {
    const options: RequireTokenOptions = { issuer, audience: API, clientSecret: SECRETS[API]!, scopes: ['invoices:read'] };
    const a = requireToken(options);
    const b = requireToken(options);
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    introspectSockets.clear();
    // Interleaved: one pool for the process would serve all four on its one idle connection.
    for (const gate of [a, b, a, b]) expect((await get(appWith(gate), t)).status).toBe(200);
    expect(introspectSockets.size).toBe(2);
    const [first] = [...introspectSockets];
    a.close();
    await until(() => closed.has(first!), 'gate a\'s connection closes');
    expect((await get(appWith(b), t)).status).toBe(200);
    expect(introspectSockets.size).toBe(2);
    expect([...introspectSockets].filter((s) => closed.has(s))).toEqual([first]);
    b.close();
  });
});

describe('a resource server whose id and secret hold spaces, ":", "+", "%" and non-ASCII', () => {
  it('introspects through the gate (client_secret_basic at /introspect)', async () => {
    const gate = requireToken({ issuer, audience: SPACED_RS, clientSecret: SPACED_SECRET, scopes: ['invoices:read'] });
    const t = (await clientCredentials(sts, 'billing-agent', SPACED_RS, 'invoices:read')).access_token;
    const res = await get(appWith(gate), t);
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { ok: true } });
    gate.close();
  });

  it('polls its revocation feed (client_secret_basic at /ssf/poll) and hears a kill', async () => {
    const feed = revocationFeed({ issuer, audience: SPACED_RS, credentials: { clientId: SPACED_RS, clientSecret: SPACED_SECRET } });
    await feed.ready();
    const t = (await clientCredentials(sts, 'billing-agent', SPACED_RS, 'invoices:read')).access_token;
    const admin = (await clientCredentials(sts, 'admin', 'urn:agent-sts:admin', 'sessions:kill')).access_token;
    expect((await request(sts.app).delete(`/admin/sessions/${sidOf(t)}`).set('Authorization', `Bearer ${admin}`)).status).toBe(200);
    await until(() => feed.isRevoked(sidOf(t)), 'the kill is heard');
    expect(feed.stats()).toMatchObject({ applied: 1, failures: 0 });
    feed.close();
  });
});
