import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { loadConfig } from '../../src/config/index.js';
import { createHttpServer } from '../../src/http/server.js';

import { API, basic, startSts, type TestSts, snapshot } from '../helpers/sts.js';

/**
 * Slow clients (security finding 8): the server main.ts runs cuts off a client that does not send
 * its whole request in time, answering in the JSON error shape, and caps open connections. The
 * timeouts are test-sized; every wait is bounded by a deadline far above them (no timing asserts).
 */

const TIMEOUT_MS = 500;
/** How long a test waits for the server to hang up before it fails: 20× the timeout, far below node's 300 s default. */
const DEADLINE_MS = 10_000;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Everything the server sent until it closed the connection, or `undefined` if it had not within the deadline. */
async function untilClosed(socket: Socket): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), DEADLINE_MS);
  });
  const closed = once(socket, 'close').then(() => 'closed' as const);
  const outcome = await Promise.race([closed, deadline]);
  clearTimeout(timer);
  socket.destroy();
  return outcome === 'closed' ? Buffer.concat(chunks).toString('utf8') : undefined;
}

async function open(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

const FORM = 'grant_type=client_credentials&scope=invoices:read&resource=' + encodeURIComponent(API);

describe('slow clients are cut off', () => {
  let sts: TestSts;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    sts = await startSts();
    const config = loadConfig({ NODE_ENV: 'test', STS_HEADERS_TIMEOUT_MS: String(TIMEOUT_MS), STS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    server = createHttpServer(config, sts.app);
    port = await listen(server);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await sts.close();
  });

  it('headers and Content-Length: 1000 with 11 bytes of body → 408 in the JSON error shape, connection closed, nothing written', async () => {
    const before = await snapshot(sts);
    const n = sts.events.events.length;
    const socket = await open(port);
    socket.write(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic('billing-agent')}\r\n`
      + 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=');
    const answer = await untilClosed(socket);
    expect(answer).toBeDefined();
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(answer).toMatch(/\r\nCache-Control: no-store\r\n/);
    expect(answer).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
    expect(answer!.split('\r\n\r\n')[1]).toBe('{"error":"invalid_request","error_description":"request not received in time"}');
    expect(sts.events.events.slice(n)).toEqual([]);
    expect(await snapshot(sts)).toEqual(before);
  });

  it('headers that never finish → cut off the same way', async () => {
    const socket = await open(port);
    socket.write('POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const answer = await untilClosed(socket);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a connection that says nothing at all is closed', async () => {
    expect(await untilClosed(await open(port))).toBeDefined();
  });

  it('a normal request on the same server still works', async () => {
    const res = await request(`http://127.0.0.1:${port}`).post('/token').set('Authorization', basic('billing-agent')).type('form').send(FORM);
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe('string');
  });

  it('malformed HTTP gets a 400 in the JSON error shape instead of node\'s bare status line', async () => {
    const socket = await open(port);
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const answer = await untilClosed(socket);
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
    port = await listen(server);
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
