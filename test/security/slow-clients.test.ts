import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { loadConfig } from '../../src/config/index.js';
import { createHttpServer } from '../../src/http/server.js';

import { listenOn } from '../helpers/http.js';
import { adminToken, API, basic, clientCredentials, startSts, type TestSts, snapshot } from '../helpers/sts.js';

/**
 * Slow clients (security finding 8): the server main.ts runs cuts off a client that does not send
 * its whole request in time, answering in the JSON error shape, and caps open connections. The
 * timeouts are test-sized; every wait is bounded by a deadline far above them (no timing asserts).
 * The cut-off clients never close their side of the connection (finding 20.13): a client that
 * hangs up when it reads the 408 would close the connection itself, and prove nothing of the server.
 */

const TIMEOUT_MS = 500;
/** How long a test waits for the server to hang up before it fails: 20× the timeout, far below node's 300 s default. */
const DEADLINE_MS = 10_000;


/** Resolves with the event's arguments, or `undefined` if it had not happened within the deadline. */
async function withinDeadline<T>(event: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), DEADLINE_MS);
  });
  const outcome = await Promise.race([event, deadline]);
  clearTimeout(timer);
  return outcome;
}

/** Everything the server sent until the socket closed, or `undefined` if it had not within the deadline. */
async function untilClosed(socket: Socket): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = await withinDeadline(once(socket, 'close'));
  socket.destroy();
  return closed ? Buffer.concat(chunks).toString('utf8') : undefined;
}

async function open(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** A client that never closes its side (half-open once the server's FIN arrives), and the server's end of its connection. */
interface Stubborn {
  client: Socket;
  serverSide: Socket;
  /** Resolves when the client has read the server's FIN. */
  ended: Promise<boolean>;
  /** What the server has sent so far. */
  received(): string;
}

async function openStubborn(server: Server, port: number): Promise<Stubborn> {
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => {});
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  const [[serverSide]] = await Promise.all([accepted, once(client, 'connect')]);
  const ended = once(client, 'end').then(() => true);
  return { client, serverSide, ended, received: () => Buffer.concat(chunks).toString('utf8') };
}

/**
 * What the server sent until it closed its end of the connection (the socket destroyed, and its
 * FIN read by the client after all the data), or `undefined` if it still held it at the deadline.
 */
async function untilServerCloses(conn: Stubborn): Promise<string | undefined> {
  const serverClosed = conn.serverSide.destroyed || await withinDeadline(once(conn.serverSide, 'close'));
  const clientEnded = serverClosed && await withinDeadline(conn.ended);
  conn.client.destroy();
  return clientEnded ? conn.received() : undefined;
}

const FORM = 'grant_type=client_credentials&scope=invoices:read&resource=' + encodeURIComponent(API);
const TIMED_OUT = '{"error":"invalid_request","error_description":"request not received in time"}';
/** The bodies below declare this length and send 11 bytes of it, then the rest only after the 408. */
const DECLARED_LENGTH = 1000;

function expect408(answer: string | undefined): void {
  expect(answer).toBeDefined();
  expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  expect(answer).toMatch(/\r\nCache-Control: no-store\r\n/);
  expect(answer).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
  expect(answer!.split('\r\n\r\n')[1]).toBe(TIMED_OUT);
}

describe('slow clients are cut off', () => {
  let sts: TestSts;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    sts = await startSts();
    const config = loadConfig({ NODE_ENV: 'test', STS_HEADERS_TIMEOUT_MS: String(TIMEOUT_MS), STS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    server = createHttpServer(config, sts.app);
    port = (await listenOn(server)).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await sts.close();
  });

  // One route per stack: the bare node:http /token, an admin call on express, and the SSF poll (express, parsed before auth).
  const slowBodies: { route: string; path: string; type: string; auth: () => Promise<string>; body: string }[] = [
    { route: 'POST /token (node:http, form)', path: '/token', type: 'application/x-www-form-urlencoded', auth: async () => basic('billing-agent'), body: `${FORM}&pad=` },
    {
      route: 'POST /admin/agents/:id/revoke-sessions (express, admin JSON)', path: '/admin/agents/billing-agent/revoke-sessions', type: 'application/json',
      auth: async () => `Bearer ${await adminToken(sts)}`, body: '{}',
    },
    { route: 'POST /ssf/poll (express, JSON)', path: '/ssf/poll', type: 'application/json', auth: async () => basic(API), body: '{"returnImmediately":true}' },
  ];

  it.each(slowBodies)('$route: Content-Length: 1000 with 11 bytes of body → 408 in the JSON error shape, the server closes the connection, the rest of the body sent after the 408 is never served', async ({ path, type, auth, body }) => {
    const authorization = await auth();
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read'); // a live session the admin call would kill
    const before = await snapshot(sts);
    const n = sts.events.events.length;
    const full = body.padEnd(DECLARED_LENGTH, body.startsWith('{') ? ' ' : 'x');
    const conn = await openStubborn(server, port);
    conn.client.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\n`
      + `Content-Type: ${type}\r\nContent-Length: ${DECLARED_LENGTH}\r\n\r\n${full.slice(0, 11)}`);
    expect(await withinDeadline(conn.ended)).toBe(true);
    conn.client.write(full.slice(11));
    const answer = await untilServerCloses(conn);
    expect408(answer);
    expect(sts.events.events.slice(n)).toEqual([]);
    expect(await snapshot(sts)).toEqual(before);
  });

  it('headers that never finish → cut off the same way', async () => {
    const conn = await openStubborn(server, port);
    conn.client.write('POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    expect408(await untilServerCloses(conn));
  });

  it('a connection that says nothing at all is closed', async () => {
    expect(await untilServerCloses(await openStubborn(server, port))).toBeDefined();
  });

  it('a normal request on the same server still works', async () => {
    const res = await request(`http://127.0.0.1:${port}`).post('/token').set('Authorization', basic('billing-agent')).type('form').send(FORM);
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe('string');
  });

  it('malformed HTTP gets a 400 in the JSON error shape instead of node\'s bare status line, and the server closes the connection', async () => {
    const conn = await openStubborn(server, port);
    conn.client.write('NOT HTTP AT ALL\r\n\r\n');
    const answer = await untilServerCloses(conn);
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer!.split('\r\n\r\n')[1]).toBe('{"error":"invalid_request","error_description":"malformed request"}');
  });
});

describe('the connection cap', () => {
  let sts: TestSts;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    sts = await startSts();
    // Long timeouts here: the held connection must outlive the test, not the timers.
    server = createHttpServer(loadConfig({ NODE_ENV: 'test', STS_MAX_CONNECTIONS: '1', STS_HEADERS_TIMEOUT_MS: '60000', STS_REQUEST_TIMEOUT_MS: '60000' }), sts.app);
    port = (await listenOn(server)).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await sts.close();
  });

  it('a connection over STS_MAX_CONNECTIONS is dropped at once; the one held still gets its answer', async () => {
    const connected = once(server, 'connection');
    const held = await open(port);
    await connected;
    const dropped = once(server, 'drop');
    const extra = await open(port);
    await dropped;
    expect(await untilClosed(extra)).toBe('');
    held.write(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: ${basic('billing-agent')}\r\n`
      + `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${FORM.length}\r\n\r\n${FORM}`);
    expect(await untilClosed(held)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});
