import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_AUD, API, basic, introspect, startSts, testRegistry, type TestSts, EXCHANGE } from '../helpers/sts.js';

/**
 * Issue 20, findings 6, 9 and 12, and issue 26's attribute round trip, through the admin API on a
 * live registry: nobody locks every manager out (only managers that can authenticate now count,
 * and the check is atomic with the change); a re-created agent id does not inherit the deleted
 * agent's usage; an enabled agent works at once; every attribute round-trips create, PATCH, GET.
 */
const M1 = 'manager-one';
const M2 = 'manager-two';
const SECRET: Record<string, string> = { [M1]: 'manager-one-secret-0123456789abcdefghij', [M2]: 'manager-two-secret-0123456789abcdefghij' };
const MANAGE_ONLY = ['agents:read', 'agents:manage'];

const registry = () => testRegistry({
  agents: [M1, M2].map((id) => ({ id, owner: 'platform', secretHash: hashSecret(SECRET[id]!), audiences: { [ADMIN_AUD]: MANAGE_ONLY } })),
});

describe('registry edges', () => {
  let sts: TestSts;
  let clockMs = Date.now();
  const clock = { nowMs: () => clockMs };
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    sts = await startSts({ live: true, registry: registry(), clock });
  });
  afterAll(async () => {
    await sts.close();
  });
  /** A fresh admin token for each manager: earlier tests may have rotated, disabled or re-enabled them. */
  async function login(id: string, secret = SECRET[id]!): Promise<number> {
    const res = await request(sts.app).post('/token').set('Authorization', basic(id, secret)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: MANAGE_ONLY.join(' ') });
    if (res.status === 200) tokens[id] = res.body.access_token as string;
    return res.status;
  }
  const as = (id: string) => ({
    post: (path: string, body?: object) => request(sts.app).post(`/admin${path}`).set('Authorization', `Bearer ${tokens[id]}`).send(body),
    patch: (path: string, body: object) => request(sts.app).patch(`/admin${path}`).set('Authorization', `Bearer ${tokens[id]}`).send(body),
    get: (path: string) => request(sts.app).get(`/admin${path}`).set('Authorization', `Bearer ${tokens[id]}`),
    delete: (path: string) => request(sts.app).delete(`/admin${path}`).set('Authorization', `Bearer ${tokens[id]}`),
  });
  const conflict = (res: request.Response) => expect({ status: res.status, error: res.body.error }).toEqual({ status: 409, error: 'invalid_request' });

  describe('finding 6: nobody locks themselves out', () => {
    beforeEach(async () => {
      clockMs += 2_000;
      expect(await login(M1)).toBe(200);
      expect(await login(M2)).toBe(200);
    });

    it('the last manager able to authenticate cannot delete its only credential', async () => {
      expect((await as(M1).post(`/agents/${M2}/disable`)).status).toBe(200);
      const creds = (await as(M1).get(`/agents/${M1}`)).body.credentials as { id: string }[];
      conflict(await as(M1).delete(`/agents/${M1}/credentials/${creds[0]!.id}`));
      expect((await as(M1).get(`/agents/${M1}`)).body.credentials).toHaveLength(1);
      expect((await as(M1).post(`/agents/${M2}/enable`)).status).toBe(200);
    });

    it('a manager whose only secret has expired does not count: the other cannot disable itself', async () => {
      const rotated = await as(M2).post(`/agents/${M1}/credentials`, { type: 'secret', overlapSeconds: 60 });
      expect(rotated.status).toBe(201);
      expect((await as(M2).delete(`/agents/${M1}/credentials/${rotated.body.id as string}`)).status).toBe(200);
      clockMs += 61_000; // M1's old secret, its only one, has expired
      expect(await login(M1)).toBe(401);
      conflict(await as(M2).post(`/agents/${M2}/disable`));
      expect((await as(M2).get(`/agents/${M2}`)).body).toMatchObject({ disabled: false, pending: null });
      // repair: a working secret for M1 again
      SECRET[M1] = (await as(M2).post(`/agents/${M1}/credentials`, { type: 'secret' })).body.client_secret as string;
    });

    it.each([1, 2, 3, 4, 5])('two managers disabling each other at once: exactly one wins (round %i)', async () => {
      const [one, two] = await Promise.all([as(M1).post(`/agents/${M2}/disable`), as(M2).post(`/agents/${M1}/disable`)]);
      expect([one.status, two.status].sort()).toEqual([200, 409]);
      const enabled = await Promise.all([M1, M2].map(async (id) => (await as(one.status === 200 ? M1 : M2).get(`/agents/${id}`)).body.disabled === false));
      expect(enabled.filter(Boolean)).toHaveLength(1);
      const winner = one.status === 200 ? M1 : M2;
      const loser = winner === M1 ? M2 : M1;
      expect((await as(winner).post(`/agents/${loser}/enable`)).status).toBe(200);
    });
  });

  it('finding 9: a re-created agent id starts with no usage; the deleted one\'s is forgotten', async () => {
    await login(M1);
    const make = async () => {
      const res = await as(M1).post('/agents', { id: 'reborn', owner: 'x', audiences: { [API]: ['invoices:read'] } });
      expect(res.status).toBe(201);
      return res.body.client_secret as string;
    };
    const secret = await make();
    const t = await request(sts.app).post('/token').set('Authorization', basic('reborn', secret)).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(t.status).toBe(200);
    expect((await introspect(sts, t.body.access_token as string)).body.active).toBe(true);
    const before = await as(M1).get('/agents/reborn/access');
    expect(before.body.usage).toEqual([expect.objectContaining({ target: API, scope: 'invoices:read', issued: 1, introspected: 1 })]);
    expect((await as(M1).delete('/agents/reborn')).status).toBe(200);
    clockMs += 2_000;
    await make();
    const after = await as(M1).get('/agents/reborn/access');
    expect(after.body.usage).toEqual([]);
    expect(after.body.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'unused_entitlement' })]));
  });

  it('finding 12: after an enable the agent gets tokens at once, within the kill marker\'s allowance', async () => {
    await login(M1);
    const cc = () => request(sts.app).post('/token').set('Authorization', basic('leaf-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect((await as(M1).post('/agents/leaf-agent/disable')).status).toBe(200);
    clockMs += 10; // well inside AGENT_KILL_CLOCK_SKEW_MS (1 s) after the disable's kill
    expect((await as(M1).post('/agents/leaf-agent/enable')).status).toBe(200);
    clockMs += 1;
    const res = await cc();
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
  });

  it('issue 26: every agent attribute round-trips create, PATCH and GET (requireDpop included)', async () => {
    await login(M1);
    const created = await as(M1).post('/agents', {
      id: 'round-trip', owner: 'team-a', description: 'first', audiences: { [API]: ['invoices:read'] },
      maxTokenTtlSeconds: 120, maxDelegationDepth: 2, grantTypes: ['client_credentials', EXCHANGE], delegates: ['leaf-agent'], requireDpop: true,
    });
    expect(created.status).toBe(201);
    const attributes = {
      owner: 'team-a', description: 'first', audiences: { [API]: ['invoices:read'] },
      maxTokenTtlSeconds: 120, maxDelegationDepth: 2, grantTypes: ['client_credentials', EXCHANGE], delegates: ['leaf-agent'], requireDpop: true,
    };
    expect(created.body).toMatchObject(attributes);
    expect((await as(M1).get('/agents/round-trip')).body).toMatchObject(attributes);
    const changed = {
      owner: 'team-b', description: 'second', audiences: { [API]: ['invoices:read', 'invoices:write'] },
      maxTokenTtlSeconds: 60, maxDelegationDepth: 1, grantTypes: ['client_credentials'], delegates: [], requireDpop: false,
    };
    const patched = await as(M1).patch('/agents/round-trip', changed);
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject(changed);
    expect((await as(M1).get('/agents/round-trip')).body).toMatchObject(changed);
    expect((await as(M1).patch('/agents/round-trip', { description: null })).body.description).toBeNull();
    const refused = await as(M1).patch('/agents/round-trip', { disabled: true });
    expect({ status: refused.status, body: refused.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: "unknown field 'disabled'" } });
  });
});
