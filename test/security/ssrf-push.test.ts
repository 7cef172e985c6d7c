import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { PushAddressPolicy, RefusedAddressError, type Resolve } from '../../src/push/address-policy.js';
import { expectOAuthError, sidOf } from '../helpers/responses.js';
import { ADMIN_AUD, API, basic, SECRETS, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { closedPortUrl, listen } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

/**
 * Outside review 2026-12 (issue 20), finding 5: SSRF through SSF push delivery. In production a
 * push endpoint may not be a loopback, private, link-local, unique-local, unspecified or other
 * internal address, in any spelling, at registration and at every connection (a name is judged
 * on what it resolves to, each time); STS_SSF_PUSH_ALLOW opens ranges or names; a failed push is
 * reported coarsely, so the admin API cannot tell a closed port from an open one. Names resolve
 * through an injected resolver (no DNS), and nothing here connects beyond 127.0.0.1.
 */

/** A self-signed P-256 certificate for push.test and 127.0.0.1, made for this test with openssl: delivery refuses it (`tls`). */
const RECEIVER_CERT = `-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIURAuWql2a37VggKqYVY3nZnrPKbowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJcHVzaC50ZXN0MCAXDTI2MTIwNzExNDAwMloYDzIxMjYxMTEz
MTE0MDAyWjAUMRIwEAYDVQQDDAlwdXNoLnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASBB5AAZViRmjrseH4RwNHneop06th4w0zN99G0VCv5Q2T1lRAJju+7
+ZD7f7YR7URdxVDdDkXHdbh1QyvGZVUYo28wbTAdBgNVHQ4EFgQUcSjvmVJ8yv1X
GUjBrGJsNl4a2YowHwYDVR0jBBgwFoAUcSjvmVJ8yv1XGUjBrGJsNl4a2YowDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglwdXNoLnRlc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSQAwRgIhAJ/iJv1xJmJmgj6PsHft0l7WcIPBw3nuOmYvD/9sKONkAiEA
sxv9NaSt7VshgFxgrj7p+u07QuqA22gtmLhnmpMk9qk=
-----END CERTIFICATE-----`;
const RECEIVER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggtldc7SFrNkZNTnh
2LxppBRQ4pgdZokgV92R8C443e2hRANCAASBB5AAZViRmjrseH4RwNHneop06th4
w0zN99G0VCv5Q2T1lRAJju+7+ZD7f7YR7URdxVDdDkXHdbh1QyvGZVUY
-----END PRIVATE KEY-----`;

const PUSH_ADMIN = 'push-admin';
const AGENT = 'ssrf-agent';
/** One resource server per scenario, so no scenario reads another's delivery state. */
const RS = Object.fromEntries(['rebind', 'literal', 'allowed', 'flip', 'closed', 'plain', 'nxdomain', 'silent'].map((n) => [n, `https://${n}.rs.test`]));

/** Every form of an internal host the review registered, and more; each is refused at registration in production. */
const INTERNAL_ENDPOINTS = [
  'https://127.0.0.1/events', 'https://localhost/events', 'https://[::1]/events', 'https://2130706433/events', 'https://0x7f.1/events',
  'https://[::ffff:127.0.0.1]/events', 'https://0177.0.0.1/', 'https://127.1/', 'https://LOCALHOST./', 'https://push.localhost/',
  'https://169.254.169.254/latest/meta-data/', 'https://[::ffff:169.254.169.254]/', 'https://[64:ff9b::a9fe:a9fe]/',
  'https://10.1.2.3/', 'https://172.16.0.1/', 'https://192.168.1.1/', 'https://100.64.0.1/', 'https://[fd00::1]/', 'https://[fc00::1]/',
  'https://[fe80::1]/', 'https://0.0.0.0/', 'https://0/', 'https://[::]/', 'https://[::127.0.0.1]/', 'https://224.0.0.1/', 'https://255.255.255.255/',
];

/** Names the test resolver knows; any other name fails to resolve, as with DNS. */
let flipCalls = 0;
const NAMES: Record<string, () => string> = {
  'rebind.test': () => '127.0.0.1',
  'metadata.test': () => '169.254.169.254',
  'v6-loopback.test': () => '::1',
  'mapped.test': () => '::ffff:127.0.0.1',
  'events.corp.test': () => '10.0.0.7',
  // a name whose first answer is allowed and whose later ones are not (DNS rebinding)
  'flip.test': () => (flipCalls++ === 0 ? '127.0.0.1' : '127.0.0.2'),
};
const resolve: Resolve = async (hostname) => {
  if (hostname === 'empty.test') return [];
  const address = NAMES[hostname]?.();
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return [{ address, family: address.includes(':') ? 6 : 4 }];
};

/** A TLS receiver on 127.0.0.1 that counts every TCP connection it gets. */
async function tlsReceiver() {
  let connections = 0;
  const server = createTlsServer({ cert: RECEIVER_CERT, key: RECEIVER_KEY }, (s) => s.end());
  server.on('connection', () => connections++);
  server.on('tlsClientError', () => {});
  return { ...(await serve(server)), connections: () => connections };
}

/** Listens on 127.0.0.1; close() also drops the connections still open. */
async function serve(server: Server) {
  const open = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    }),
  };
}

function registry() {
  const scopes = Object.fromEntries(Object.values(RS).map((aud) => [aud, ['events:read']]));
  return testRegistry({
    agents: [
      { id: PUSH_ADMIN, secretHash: hashSecret(SECRETS.admin!), audiences: { [ADMIN_AUD]: ['agents:manage', 'agents:read', 'sessions:kill'] } },
      { id: AGENT, secretHash: hashSecret(SECRETS['billing-agent']!), audiences: scopes },
    ],
    resourceServers: Object.values(RS).map((id) => ({ id, secretHash: hashSecret(SECRETS[API]!), scopes: ['events:read'] })),
  });
}

async function pushAdmin(sts: TestSts): Promise<string> {
  const res = await request(sts.app).post('/token').set('Authorization', basic(PUSH_ADMIN, SECRETS.admin!)).type('form')
    .send({ grant_type: 'client_credentials', audience: ADMIN_AUD, scope: 'agents:manage agents:read sessions:kill' });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}
const pushUrl = (aud: string) => `/admin/resource-servers/${encodeURIComponent(aud)}/ssf-push`;
async function register(sts: TestSts, aud: string, endpoint: string) {
  return request(sts.app).put(pushUrl(aud)).set('Authorization', `Bearer ${await pushAdmin(sts)}`).send({ endpoint, authorization: 'Bearer receiver-secret' });
}
/** A session at `aud`, killed: one SET waits in `aud`'s stream, and delivery is kicked. */
async function killOneAt(sts: TestSts, aud: string) {
  const token = await request(sts.app).post('/token').set('Authorization', basic(AGENT, SECRETS['billing-agent']!)).type('form')
    .send({ grant_type: 'client_credentials', resource: aud, scope: 'events:read' });
  expect(token.status).toBe(200);
  const killed = await request(sts.app).delete(`/admin/sessions/${sidOf(token.body.access_token as string)}`).set('Authorization', `Bearer ${await pushAdmin(sts)}`);
  expect(killed.status).toBe(200);
}
/** The admin API's view of `aud`'s push registration once `until_` holds of its delivery (and that delivery state as text). */
async function deliveryOf(sts: TestSts, aud: string, until_: (d: { attempts: number; lastError: string | null }) => boolean) {
  let body: { delivery: { attempts: number; lastError: string | null } } | undefined;
  const admin = await pushAdmin(sts);
  await until(async () => {
    const got = await request(sts.app).get(pushUrl(aud)).set('Authorization', `Bearer ${admin}`);
    body = got.body;
    return got.status === 200 && until_(body!.delivery);
  }, `${aud}'s delivery state`, 10_000);
  return { body: body!, text: JSON.stringify(body!.delivery) };
}
const failed = (d: { attempts: number }) => d.attempts >= 1;

describe('address rules (no connection made)', () => {
  const NONE = { subnets: [], hosts: [] };
  const policy = new PushAddressPolicy(NONE, resolve);

  it.each([
    '127.0.0.1', '127.255.255.254', '0.0.0.0', '10.0.0.1', '100.64.0.1', '100.100.100.200', '169.254.169.254', '172.16.0.1', '172.31.255.255',
    '192.168.0.1', '192.0.0.1', '198.18.0.1', '224.0.0.1', '255.255.255.255', '::', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe',
    '::127.0.0.1', '64:ff9b::7f00:1', '64:ff9b::a00:1', 'fc00::1', 'fd00::1', 'FD12:3456::1', 'fe80::1', 'fec0::1', 'ff02::1', '2002:7f00:1::1',
    '2001::1', '2001:db8::1', 'fe80::1%eth0', 'not-an-address', '',
  ])('refuses %s', (address) => {
    expect(policy.permits(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('permits %s', (address) => {
    expect(policy.permits(address)).toBe(true);
  });

  it('a name is judged on what it resolves to: loopback, metadata, ::1 and an IPv4-mapped loopback are refused', async () => {
    for (const name of ['rebind.test', 'metadata.test', 'v6-loopback.test', 'mapped.test']) {
      await expect(policy.addresses(name)).rejects.toBeInstanceOf(RefusedAddressError);
    }
    await expect(policy.addresses('nowhere.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(policy.addresses('empty.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('the allow-list opens CIDRs (in their IPv4-mapped form too) and trusts a listed name, and nothing else', async () => {
    const open = new PushAddressPolicy({ subnets: [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }, { address: 'fd00::', prefix: 8, family: 'ipv6' }], hosts: ['events.corp.test'] }, resolve);
    expect(['10.1.2.3', '::ffff:10.1.2.3', 'fd12::1'].map((a) => open.permits(a))).toEqual([true, true, true]);
    expect(['127.0.0.1', '192.168.0.1', 'fc00::1', '169.254.169.254'].map((a) => open.permits(a))).toEqual([false, false, false, false]);
    expect(await open.addresses('events.corp.test')).toEqual([{ address: '10.0.0.7', family: 4 }]);
    await expect(open.addresses('rebind.test')).rejects.toBeInstanceOf(RefusedAddressError);
    expect(open.hostProblem('events.corp.test')).toBeUndefined();
    expect(open.hostProblem('localhost')).toMatch(/^endpoint /);
  });
});

describe('push delivery in production', () => {
  let strict: TestSts;
  let allowed: TestSts;

  beforeAll(async () => {
    strict = await startSts({ production: true, registry: registry(), ssfPushRetryMs: 10, pushResolve: resolve });
    allowed = await startSts({ production: true, registry: registry(), ssfPushRetryMs: 10, ssfPushTimeoutMs: 1_000, ssfPushAllow: '127.0.0.1/32', pushResolve: resolve });
  });
  afterAll(async () => {
    await strict.close();
    await allowed.close();
  });

  it('registration refuses every spelling of an internal host with a 400 naming the endpoint, and stores nothing', async () => {
    for (const endpoint of INTERNAL_ENDPOINTS) {
      const res = await register(strict, API, endpoint);
      expectOAuthError(res, 400, 'invalid_request');
      expect({ endpoint, description: res.body.error_description }).toEqual({ endpoint, description: expect.stringMatching(/^endpoint must not be a loopback, private, link-local/) });
    }
    expectOAuthError(await register(strict, API, 'http://rs.example.com/events'), 400, 'invalid_request');
    expect(await strict.redis!.exists(strict.keys!.ssfPush(API))).toBe(0);
    // a name is not resolved at registration (delivery judges what it resolves to)
    expect((await register(strict, API, 'https://rs.example.com/events')).status).toBe(200);
    expect((await request(strict.app).delete(pushUrl(API)).set('Authorization', `Bearer ${await pushAdmin(strict)}`)).status).toBe(200);
  });

  it('a name that resolves to 127.0.0.1 is registered but never connected to: refused_address in the admin API and the audit trail', async () => {
    const receiver = await tlsReceiver();
    try {
      expect((await register(strict, RS.rebind!, `https://rebind.test:${receiver.port}/events`)).status).toBe(200);
      await killOneAt(strict, RS.rebind!);
      await until(() => strict.events.events.some((e) => e.type === 'resource_server.push_failing' && e.resourceServer === RS.rebind), 'the failing receiver is reported', 10_000);
      const { body } = await deliveryOf(strict, RS.rebind!, failed);
      expect(body.delivery).toMatchObject({ failing: true, lastError: 'refused_address' });
      expect(strict.events.events.filter((e) => e.type === 'resource_server.push_failing' && e.resourceServer === RS.rebind))
        .toEqual([expect.objectContaining({ attempts: 5, error: 'refused_address' })]);
      expect(receiver.connections()).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it('an address endpoint stored before these rules (straight into the store) is refused when delivery connects, without connecting', async () => {
    const receiver = await tlsReceiver();
    try {
      await strict.deps.ssf!.store.setPush(RS.literal!, { endpoint: `https://[::ffff:127.0.0.1]:${receiver.port}/events`, authorization: 'Bearer receiver-secret' });
      await killOneAt(strict, RS.literal!);
      const { body } = await deliveryOf(strict, RS.literal!, failed);
      expect(body.delivery.lastError).toBe('refused_address');
      expect(receiver.connections()).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it('STS_SSF_PUSH_ALLOW=127.0.0.1/32: the same target registers and is dialled (its self-signed certificate is then refused: tls)', async () => {
    const receiver = await tlsReceiver();
    try {
      expect((await register(strict, RS.allowed!, `https://127.0.0.1:${receiver.port}/events`)).status).toBe(400);
      expect((await register(allowed, RS.allowed!, `https://127.0.0.1:${receiver.port}/events`)).status).toBe(200);
      await killOneAt(allowed, RS.allowed!);
      const { body } = await deliveryOf(allowed, RS.allowed!, failed);
      expect(body.delivery.lastError).toBe('tls');
      expect(receiver.connections()).toBeGreaterThanOrEqual(1);
      // the allow-list opens what it lists, nothing more
      expectOAuthError(await register(allowed, RS.allowed!, 'https://127.0.0.2/events'), 400, 'invalid_request');
      expectOAuthError(await register(allowed, RS.allowed!, 'https://169.254.169.254/'), 400, 'invalid_request');
    } finally {
      await receiver.close();
    }
  });

  it('a name that re-resolves from an allowed address to a refused one is refused on the next connection', async () => {
    const receiver = await tlsReceiver();
    try {
      expect((await register(allowed, RS.flip!, `https://flip.test:${receiver.port}/events`)).status).toBe(200);
      await killOneAt(allowed, RS.flip!);
      const { body } = await deliveryOf(allowed, RS.flip!, (d) => d.attempts >= 2);
      expect(body.delivery.lastError).toBe('refused_address');
      expect(flipCalls).toBeGreaterThanOrEqual(2);
      expect(receiver.connections()).toBe(1); // the first answer only (127.0.0.2 would have been `unreachable`: nothing listens there)
    } finally {
      await receiver.close();
    }
  });

  it('a closed port, an open port that speaks no TLS and a name that does not resolve all read `unreachable`, without socket errors or ports', async () => {
    const plain = await listen((_req, res) => res.writeHead(202).end());
    try {
      const closedPort = new URL(await closedPortUrl()).port;
      const targets = { [RS.closed!]: `https://127.0.0.1:${closedPort}/events`, [RS.plain!]: `https://127.0.0.1:${new URL(plain.url).port}/events`, [RS.nxdomain!]: 'https://nowhere.test/events' };
      for (const [aud, endpoint] of Object.entries(targets)) {
        expect((await register(allowed, aud, endpoint)).status).toBe(200);
        await killOneAt(allowed, aud);
      }
      for (const aud of Object.keys(targets)) {
        const { body, text } = await deliveryOf(allowed, aud, failed);
        expect({ aud, lastError: body.delivery.lastError }).toEqual({ aud, lastError: 'unreachable' });
        expect(text).not.toMatch(/ECONN|EPROTO|ENOTFOUND|SSL|socket|127\.0\.0\.1:/);
      }
      await until(() => Object.keys(targets).every((aud) => allowed.events.events.some((e) => e.type === 'resource_server.push_failing' && e.resourceServer === aud)), 'all three are reported', 10_000);
      const reported = allowed.events.events.filter((e) => e.type === 'resource_server.push_failing' && e.resourceServer in targets);
      expect(reported.map((e) => (e as { error: string }).error)).toEqual(['unreachable', 'unreachable', 'unreachable']);
    } finally {
      await plain.close();
    }
  });

  it('a receiver that accepts and never answers reads `timeout`', async () => {
    const silent = await serve(createTcpServer(() => {}));
    try {
      expect((await register(allowed, RS.silent!, `https://127.0.0.1:${silent.port}/events`)).status).toBe(200);
      await killOneAt(allowed, RS.silent!);
      const { body } = await deliveryOf(allowed, RS.silent!, failed);
      expect(body.delivery.lastError).toBe('timeout');
    } finally {
      await silent.close();
    }
  });
});
