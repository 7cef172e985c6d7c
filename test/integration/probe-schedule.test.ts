import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { requireToken } from 'agent-sts-gate/express';
import { PROBE_SCHEDULE_ACTOR } from '../../src/admin/probe-schedule.js';
import type { ResourceServerReview } from '../../src/admin/probe-review.js';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { loadConfig } from '../../src/config/index.js';
import { probeAgentBase } from '../../src/probe/agents.js';
import { present } from '../../src/probe/http.js';
import { PushAddressPolicy, type Resolve } from '../../src/push/address-policy.js';
import { guardedFetch } from '../../src/push/guarded-fetch.js';
import { listen, type Listening } from '../helpers/http.js';
import { ADMIN_AUD, basic, SECRETS, API, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * The server's own enforcement probe on a schedule (STS_PROBE_INTERVAL_MINUTES): targets
 * registered through the admin API under the resource server's origin, probed by exactly one of
 * two instances on one Redis per interval (driven by `tick`, not by time), recorded as a CLI's
 * report is; in production, push delivery's address rules at registration and at connection.
 */

const ADMIN = 'schedule-admin';
const ADMIN_SECRET = 'schedule-admin-secret-0123456789abcdefgh';
const READ = 'invoices:read';
const admins = [{ id: ADMIN, owner: 'platform', secretHash: hashSecret(ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }];

async function adminToken(sts: TestSts): Promise<string> {
  const res = await request(sts.app).post('/token').set('Authorization', basic(ADMIN, ADMIN_SECRET)).type('form')
    .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'agents:read agents:manage' });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}
const targetPath = (rs: string) => `/admin/resource-servers/${encodeURIComponent(rs)}/probe-target`;
const probed = (...all: TestSts[]) => all.flatMap((s) => s.events.events.filter((e) => e.type === 'resource_server.probed'));

/** A loopback server counting the connections it accepts. */
async function counting(handler?: Parameters<typeof listen>[0]): Promise<Listening & { connections(): number; handle(h: NonNullable<Parameters<typeof listen>[0]>): void }> {
  const l = await listen(handler);
  let n = 0;
  l.server.on('connection', () => n++);
  return { ...l, connections: () => n };
}

describe('scheduled probes, development, two instances on one Redis', () => {
  let issuer: Awaited<ReturnType<typeof listen>>;
  let api: Awaited<ReturnType<typeof counting>>;
  let a: TestSts;
  let b: TestSts;
  let rs: string;
  let token: string;
  let closeGate: () => void;

  beforeAll(async () => {
    issuer = await listen();
    api = await counting();
    rs = api.url;
    const registry = testRegistry({ agents: admins, resourceServers: [{ id: rs, secretHash: hashSecret(SECRETS[API]!), scopes: [READ, 'invoices:write'] }] });
    a = await startSts({ store: 'redis', live: true, issuer: issuer.url, registry, probeIntervalMinutes: 60 });
    b = await startSts({ store: 'redis', live: true, issuer: issuer.url, registry, probeIntervalMinutes: 60, prefix: a.prefix, keysDir: a.config.keysDir });
    issuer.handle(a.app);
    const gate = requireToken({ issuer: issuer.url, audience: rs, clientSecret: SECRETS[API]!, scopes: [READ] });
    closeGate = () => gate.close();
    api.handle(express().get('/authz', gate, (_req, res) => void res.json({ ok: true })));
    token = await adminToken(a);
  });
  afterAll(async () => {
    closeGate?.();
    await api?.close();
    await issuer?.close();
    await b?.close();
    await a?.close();
  });

  it('a target is registered only under the resource server\'s origin, with one of its scopes; a 400 names the field', async () => {
    const put = (body: unknown) => request(a.app).put(targetPath(rs)).set('Authorization', `Bearer ${token}`).send(body as object);
    const outside = await put({ url: 'http://127.0.0.2:9/authz' });
    expect({ status: outside.status, d: outside.body.error_description }).toEqual({ status: 400, d: `url: must be under the resource server's origin ${rs}` });
    const scope = await put({ url: `${rs}/authz`, scope: 'payments:write' });
    expect({ status: scope.status, d: scope.body.error_description }).toEqual({ status: 400, d: expect.stringMatching(/^scope: not one of the resource server's scopes/) });
    const extra = await put({ url: `${rs}/authz`, method: 'POST' });
    expect(extra.status).toBe(400);
    const long = await put({ url: `${rs}/${'a'.repeat(2_100)}` });
    expect({ status: long.status, d: long.body.error_description }).toEqual({ status: 400, d: expect.stringMatching(/^url: /) });
    // an unregistered resource server has none
    const urn = await request(a.app).put(targetPath('urn:agent-sts:probe:nowhere')).set('Authorization', `Bearer ${token}`).send({ url: `${rs}/authz` });
    expect(urn.status).toBe(404);
    expect(await a.deps.stores.probes!.targets()).toEqual(new Map());
    expect(probed(a, b)).toEqual([]);
  });

  it('the target is probed on schedule by exactly one instance, recorded as the system actor, shown in GET /admin/probes and the access review', async () => {
    const put = await request(a.app).put(targetPath(rs)).set('Authorization', `Bearer ${token}`).send({ url: `${rs}/authz`, scope: READ });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ url: `${rs}/authz`, scope: READ, dpop: false, registered: expect.any(String), by: ADMIN });
    expect((await request(b.app).get(targetPath(rs)).set('Authorization', `Bearer ${token}`)).body).toEqual(put.body);
    expect(a.events.events.filter((e) => e.type === 'resource_server.updated' && e.resourceServer === rs)).toEqual([expect.objectContaining({ fields: ['probeTarget'], by: ADMIN })]);

    const ticks = await Promise.all([a.deps.probeSchedule!.tick(), b.deps.probeSchedule!.tick()]);
    expect(ticks.flat()).toEqual([rs]);
    const records = probed(a, b);
    expect(records).toEqual([expect.objectContaining({ type: 'resource_server.probed', resourceServer: rs, by: PROBE_SCHEDULE_ACTOR, actor: PROBE_SCHEDULE_ACTOR, target: `${rs}/authz`, verdict: 'enforcing' })]);
    expect(api.connections()).toBeGreaterThan(0);

    const probes = await request(b.app).get('/admin/probes').set('Authorization', `Bearer ${token}`);
    const mine = (probes.body.resourceServers as ResourceServerReview[]).find((s) => s.resourceServer === rs);
    expect(mine).toEqual({ resourceServer: rs, findings: [], lastProbe: expect.objectContaining({ verdict: 'enforcing', by: PROBE_SCHEDULE_ACTOR, target: `${rs}/authz`, failed: [] }) });
    const review = await request(a.app).get('/admin/access-review').set('Authorization', `Bearer ${token}`);
    expect((review.body.resourceServers as ResourceServerReview[]).find((s) => s.resourceServer === rs)?.lastProbe).toMatchObject({ verdict: 'enforcing', by: PROBE_SCHEDULE_ACTOR });

    // the probe's agents were made through the registry service, and none of their sessions outlives it
    const base = probeAgentBase(rs);
    expect(a.deps.registry.agent(base)?.disabled).toBe(false);
    let live = 0;
    for (const id of [base, `${base}.delegate`, `${base}.expiring`]) live += (await a.deps.sessions.list({ agent: id }, 100)).length;
    expect(live).toBe(0);

    // within the interval neither instance probes it again
    expect((await Promise.all([a.deps.probeSchedule!.tick(), b.deps.probeSchedule!.tick()])).flat()).toEqual([]);
    expect(probed(a, b)).toHaveLength(1);
    expect(await a.redis!.pttl(a.keys!.probeLease(rs))).toBeGreaterThan(0);
  });

  it('DELETE stops probing it: a due tick finds nothing', async () => {
    const del = await request(b.app).delete(targetPath(rs)).set('Authorization', `Bearer ${token}`);
    expect({ status: del.status, body: del.body }).toEqual({ status: 200, body: { deleted: true } });
    expect((await request(a.app).delete(targetPath(rs)).set('Authorization', `Bearer ${token}`)).status).toBe(404);
    await a.redis!.del(a.keys!.probeLease(rs));
    expect(await a.deps.probeSchedule!.tick()).toEqual([]);
    expect(probed(a, b)).toHaveLength(1);
  });
});

describe('off by default', () => {
  it('STS_PROBE_INTERVAL_MINUTES defaults to 0: no schedule, no timer; a target can be registered and nothing probes it', async () => {
    expect(loadConfig({}).probe).toEqual({ intervalMs: 0 });
    expect(loadConfig({ STS_PROBE_INTERVAL_MINUTES: '15' }).probe).toEqual({ intervalMs: 900_000 });
    expect(() => loadConfig({ STS_PROBE_INTERVAL_MINUTES: '-1' })).toThrow(/STS_PROBE_INTERVAL_MINUTES/);
    const rs = 'https://api.off.example';
    const sts = await startSts({ store: 'redis', live: true, registry: testRegistry({ agents: admins, resourceServers: [{ id: rs, secretHash: hashSecret(SECRETS[API]!), scopes: [READ] }] }) });
    try {
      expect(sts.deps.probeSchedule).toBeUndefined();
      const put = await request(sts.app).put(targetPath(rs)).set('Authorization', `Bearer ${await adminToken(sts)}`).send({ url: `${rs}/authz` });
      expect(put.status).toBe(200);
      expect(await sts.redis!.keys(`${sts.prefix}probe-lease:*`)).toEqual([]);
      expect(probed(sts)).toEqual([]);
    } finally {
      await sts.close();
    }
  });
});

describe('scheduled probes in production: push delivery\'s address rules', () => {
  let sts: TestSts;
  let api: Awaited<ReturnType<typeof counting>>;
  const NAME = 'api.probe.test';
  const resolve: Resolve = async (host) => (host === NAME ? [{ address: '127.0.0.1', family: 4 }] : []);
  let named: string;

  beforeAll(async () => {
    api = await counting((_req, res) => res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end());
    named = `https://${NAME}:${api.port}`;
    sts = await startSts({
      store: 'redis', live: true, production: true, probeIntervalMinutes: 60, pushResolve: resolve,
      registry: testRegistry({
        agents: admins,
        resourceServers: [named, `https://127.0.0.1:${api.port}`, 'https://10.1.2.3', 'urn:example:no-origin']
          .map((id) => ({ id, secretHash: hashSecret(SECRETS[API]!), scopes: [READ] })),
      }),
    });
  });
  afterAll(async () => {
    await sts?.close();
    await api?.close();
  });

  it('registration refuses loopback and private targets, an http one, and a resource server without an https origin (400 naming url)', async () => {
    const token = await adminToken(sts);
    const put = (rs: string, url: string) => request(sts.app).put(targetPath(rs)).set('Authorization', `Bearer ${token}`).send({ url });
    for (const [rs, url, d] of [
      [`https://127.0.0.1:${api.port}`, `https://127.0.0.1:${api.port}/authz`, /^url: must not be a loopback, private, link-local/],
      ['https://10.1.2.3', 'https://10.1.2.3/authz', /^url: must not be a loopback, private, link-local/],
      [named, `http://${NAME}:${api.port}/authz`, /^url: must be https/],
      ['urn:example:no-origin', `${named}/authz`, /^url: the resource server's id is not an https URL/],
    ] as const) {
      const res = await put(rs, url);
      expect({ url, status: res.status, d: res.body.error_description }).toEqual({ url, status: 400, d: expect.stringMatching(d) });
    }
    expect(await sts.deps.stores.probes!.targets()).toEqual(new Map());
  });

  it('a name resolving to loopback is registered (names are judged when connecting) but never connected to: recorded as not probed', async () => {
    const token = await adminToken(sts);
    expect((await request(sts.app).put(targetPath(named)).set('Authorization', `Bearer ${token}`).send({ url: `${named}/authz` })).status).toBe(200);
    expect(await sts.deps.probeSchedule!.tick()).toEqual([named]);
    expect(api.connections()).toBe(0);
    expect(probed(sts)).toEqual([expect.objectContaining({
      resourceServer: named, by: PROBE_SCHEDULE_ACTOR, verdict: 'setup_wrong',
      cases: [expect.objectContaining({ id: 'baseline', outcome: 'fail', status: null, note: expect.stringMatching(/^not probed: api\.probe\.test resolves to 127\.0\.0\.1/) })],
    })]);
    // nothing was provisioned for it
    expect(sts.deps.registry.agent(probeAgentBase(named))).toBeUndefined();
    const review = await request(sts.app).get('/admin/probes').set('Authorization', `Bearer ${token}`);
    expect((review.body.resourceServers as ResourceServerReview[]).find((s) => s.resourceServer === named)?.findings)
      .toEqual([expect.objectContaining({ kind: 'resource_server_not_enforcing' })]);
  });

  it('every connection the probe makes goes through the policy\'s lookup: a refused address is never connected to, an allowed one is', async () => {
    const strict = guardedFetch(new PushAddressPolicy({ subnets: [], hosts: [] }, resolve));
    const before = api.connections();
    expect(await present(`http://${NAME}:${api.port}/authz`, { as: 'none' }, undefined, strict)).toEqual({ status: null, challenge: null, error: 'ERR_PUSH_REFUSED_ADDRESS' });
    expect(await present(`http://127.0.0.1:${api.port}/authz`, { as: 'none' }, undefined, strict)).toEqual({ status: null, challenge: null, error: 'ERR_PUSH_REFUSED_ADDRESS' });
    expect(await present(`http://[::ffff:7f00:1]:${api.port}/authz`, { as: 'none' }, undefined, strict)).toMatchObject({ status: null, error: 'ERR_PUSH_REFUSED_ADDRESS' });
    expect(api.connections()).toBe(before);
    const allowed = guardedFetch(new PushAddressPolicy({ subnets: [], hosts: [NAME] }, resolve));
    expect(await present(`http://${NAME}:${api.port}/authz`, { as: 'bearer', token: 'x' }, undefined, allowed)).toEqual({ status: 401, challenge: 'Bearer' });
    expect(api.connections()).toBe(before + 1);
  });
});
