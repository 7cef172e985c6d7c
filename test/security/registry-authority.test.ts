import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { ADMIN_AUD, API, basic, SECRETS, snapshot, startSts, testRegistry, type StoreKind, type TestSts } from '../helpers/sts.js';

/**
 * Issue 20, finding 1: an admin cannot grant what it does not hold. An admin holding only
 * `agents:read agents:manage` may manage agents, but not give an agent (itself included) an admin
 * scope it lacks, re-enable or hand out a credential of an agent holding one, or add a delegate to
 * such an agent: 403 insufficient_scope naming the missing scopes, nothing changed (Redis and the
 * registry), an `admin.denied` record. An admin holding the scopes may do each.
 */
const MANAGER = 'manager-only';
const MANAGER_SECRET = 'manager-only-secret-0123456789abcdefghij';
const SUPER = 'super-admin';
const SUPER_SECRET = 'super-admin-secret-0123456789abcdefghijk';

const registry = () => testRegistry({
  agents: [
    { id: MANAGER, owner: 'platform', secretHash: hashSecret(MANAGER_SECRET), audiences: { [ADMIN_AUD]: ['agents:read', 'agents:manage'] } },
    { id: SUPER, owner: 'platform', secretHash: hashSecret(SUPER_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } },
    { id: 'disabled-auditor', owner: 'platform', secretHash: hashSecret(SECRETS.auditor!), audiences: { [ADMIN_AUD]: ['audit:read'] }, disabled: true },
  ],
});

describe.each<StoreKind>(['redis', 'memory'])('an admin cannot grant what it does not hold (%s store)', (store) => {
  let sts: TestSts;
  let manager: string;
  let superAdmin: string;

  const tokenOf = async (id: string, secret: string, scope: string) => {
    const res = await request(sts.app).post('/token').set('Authorization', basic(id, secret)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope });
    expect(res.status).toBe(200);
    return res.body.access_token as string;
  };

  beforeAll(async () => {
    sts = await startSts({ store, live: true, registry: registry() });
    manager = await tokenOf(MANAGER, MANAGER_SECRET, 'agents:read agents:manage');
    superAdmin = await tokenOf(SUPER, SUPER_SECRET, ADMIN_SCOPES.join(' '));
  });
  afterAll(async () => {
    await sts.close();
  });

  const as = (token: string) => ({
    post: (path: string, body?: object) => request(sts.app).post(`/admin${path}`).set('Authorization', `Bearer ${token}`).send(body),
    patch: (path: string, body: object) => request(sts.app).patch(`/admin${path}`).set('Authorization', `Bearer ${token}`).send(body),
    get: (path: string) => request(sts.app).get(`/admin${path}`).set('Authorization', `Bearer ${token}`),
  });

  /** Refused with 403 insufficient_scope naming exactly `missing`; Redis and the registry unchanged; admin.denied recorded. */
  async function refused(send: () => PromiseLike<request.Response>, missing: string[], target: string) {
    const before = await snapshot(sts);
    const n = sts.events.events.length;
    const res = await send();
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
    expect(res.body.error_description).toBe(`the change needs admin scopes you do not hold: ${missing.join(' ')}`);
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    expect(res.body.client_secret).toBeUndefined();
    expect(await snapshot(sts)).toEqual(before);
    expect(sts.events.events.slice(n)).toEqual([expect.objectContaining({
      type: 'admin.denied', actor: MANAGER, target, missing, reason: 'insufficient_authority', adminSid: expect.any(String),
    })]);
  }

  it('(a) creating an agent entitled to admin scopes it lacks: 403, no agent', async () => {
    await refused(() => as(manager).post('/agents', {
      id: 'escalator', owner: 'x', audiences: { [ADMIN_AUD]: ['audit:read', 'sessions:kill', 'agents:read'] },
    }), ['audit:read', 'sessions:kill'], 'escalator');
    expect((await as(manager).get('/agents/escalator')).status).toBe(404);
  });

  it('(b) patching its own entitlements to add scopes it lacks: 403, its record unchanged', async () => {
    await refused(() => as(manager).patch(`/agents/${MANAGER}`, { audiences: { [ADMIN_AUD]: ['agents:read', 'agents:manage', 'audit:read'] } }), ['audit:read'], MANAGER);
    expect((await as(manager).get(`/agents/${MANAGER}`)).body.audiences).toEqual({ [ADMIN_AUD]: ['agents:read', 'agents:manage'] });
  });

  it('(c) a new secret or an added key for an agent holding admin scopes it lacks: 403, no credential handed out', async () => {
    await refused(() => as(manager).post('/agents/auditor/credentials', { type: 'secret' }), ['audit:read'], 'auditor');
    const jwk = await exportJWK((await generateKeyPair('ES256')).publicKey);
    await refused(() => as(manager).post('/agents/auditor/credentials', { type: 'jwk', jwk }), ['audit:read'], 'auditor');
    // the auditor's own secret still works, nothing new does
    expect((await as(manager).get('/agents/auditor')).body.credentials.map((c: { id: string }) => c.id)).toEqual(['secret']);
  });

  it('re-enabling an agent holding admin scopes it lacks: 403, still disabled', async () => {
    await refused(() => as(manager).post('/agents/disabled-auditor/enable'), ['audit:read'], 'disabled-auditor');
    expect((await as(manager).get('/agents/disabled-auditor')).body.disabled).toBe(true);
  });

  it('adding a delegate to an agent holding admin scopes it lacks: 403 (the delegate could act on its admin tokens)', async () => {
    await refused(() => as(manager).patch('/agents/auditor', { delegates: ['leaf-agent'] }), ['audit:read'], 'auditor');
  });

  it('what it holds it may give, and what it lacks an admin holding it may give', async () => {
    const mine = await as(manager).post('/agents', { id: 'reader-bot', owner: 'x', audiences: { [ADMIN_AUD]: ['agents:read'] } });
    expect(mine.status).toBe(201);
    expect((await as(manager).patch('/agents/auditor', { description: 'not a grant' })).status).toBe(200);
    expect((await as(manager).post('/agents/billing-agent/credentials', { type: 'secret' })).status).toBe(201);
    expect((await as(superAdmin).post('/agents/auditor/credentials', { type: 'secret' })).status).toBe(201);
    expect((await as(superAdmin).patch(`/agents/${MANAGER}`, { audiences: { [ADMIN_AUD]: ['agents:read', 'agents:manage', 'audit:read'] } })).status).toBe(200);
    expect((await as(superAdmin).post('/agents/disabled-auditor/enable')).status).toBe(200);
  });

  it('the admin audience is not a resource server anyone can register', async () => {
    const res = await as(superAdmin).post('/resource-servers', { id: ADMIN_AUD, scopes: ['x'] });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
    expect((await as(superAdmin).get(`/resource-servers/${encodeURIComponent(ADMIN_AUD)}`)).status).toBe(404);
  });

  it('a token of a created agent never reaches further than its creator could (end to end)', async () => {
    const created = await as(manager).post('/agents', { id: 'api-bot', owner: 'x', audiences: { [API]: ['invoices:read'] } });
    expect(created.status).toBe(201);
    const res = await request(sts.app).post('/token').set('Authorization', basic('api-bot', created.body.client_secret as string)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'audit:read' });
    expect(res.status).toBe(400);
  });
});
