import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import {
  ADMIN_AUD, API, basic, clientCredentials, introspect, SECRETS, startSts, testRegistry, type TestSts,
} from '../helpers/sts.js';
import { eventually } from '../helpers/wait.js';
import { ANY_ISO_TIME } from '../helpers/responses.js';

/**
 * Two agent-sts instances on one Redis, each with its own live-registry copy: a change made
 * through the admin API of one applies on the other without a restart.
 */
const REGISTRY_ADMIN = 'registry-admin';
const REGISTRY_ADMIN_SECRET = 'registry-admin-secret-0123456789abcdef';
const BACKUP_ADMIN = 'backup-admin';
/** Bound on waiting for a change to reach the other instance (announcement, or the 1 s version poll). */
const VISIBLE_WITHIN_MS = 3_000;
const visible = { withinMs: VISIBLE_WITHIN_MS };

const registry = () => testRegistry({
  agents: [{ id: REGISTRY_ADMIN, owner: 'platform', secretHash: hashSecret(REGISTRY_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }],
});

describe('the live registry across two instances on one Redis', () => {
  let a: TestSts;
  let b: TestSts;
  let admin: string;
  let clockMs = Date.now();
  const clock = { nowMs: () => clockMs };

  beforeAll(async () => {
    a = await startSts({ live: true, registry: registry(), clock });
    b = await startSts({ live: true, registry: registry(), clock, prefix: a.prefix });
    const res = await request(a.app).post('/token').set('Authorization', basic(REGISTRY_ADMIN, REGISTRY_ADMIN_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    expect(res.status).toBe(200);
    admin = res.body.access_token as string;
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  const api = (sts: TestSts) => ({
    get: (path: string) => request(sts.app).get(`/admin${path}`).set('Authorization', `Bearer ${admin}`),
    post: (path: string, body?: object) => {
      const r = request(sts.app).post(`/admin${path}`).set('Authorization', `Bearer ${admin}`);
      return body ? r.send(body) : r;
    },
    patch: (path: string, body: object) => request(sts.app).patch(`/admin${path}`).set('Authorization', `Bearer ${admin}`).send(body),
    delete: (path: string) => request(sts.app).delete(`/admin${path}`).set('Authorization', `Bearer ${admin}`),
  });
  const cc = (sts: TestSts, id: string, secret: string, scope = 'invoices:read') =>
    request(sts.app).post('/token').set('Authorization', basic(id, secret)).type('form').send({ grant_type: 'client_credentials', resource: API, scope });

  it('the second instance seeded nothing new: the first one imported the file, the API changes win', async () => {
    const res = await api(b).get('/agents/billing-agent');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'billing-agent', owner: 'team-billing', disabled: false, source: 'file', updatedBy: 'registry-file', created: ANY_ISO_TIME });
    expect(res.body.credentials).toEqual([{ id: 'secret', type: 'secret', created: ANY_ISO_TIME, expires: null, lastUsed: null }]);
    expect(JSON.stringify(res.body)).not.toContain('sha256$');
  });

  it('create on A, token on B, disable on A: the token dies and the credentials fail on B at once; enable; rotate with overlap; delete', async () => {
    const created = await api(a).post('/agents', { id: 'new-agent', owner: 'team-new', audiences: { [API]: ['invoices:read'] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'new-agent', owner: 'team-new', disabled: false, maxTokenTtlSeconds: 300, source: 'api', updatedBy: REGISTRY_ADMIN });
    const secret = created.body.client_secret as string;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect((await api(a).get('/agents/new-agent')).body.client_secret).toBeUndefined();

    const first = await eventually(() => cc(b, 'new-agent', secret), (r) => r.status === 200, visible);
    expect(first.status).toBe(200);
    const token = first.body.access_token as string;
    expect((await introspect(b, token)).body).toMatchObject({ active: true, client_id: 'new-agent' });

    const disabled = await api(a).post('/agents/new-agent/disable');
    expect(disabled.status).toBe(200);
    expect(disabled.body).toEqual({ disabled: true, revoked: 1 });
    // no waiting: B's copy may not have heard yet, the store's status and the kill already hold
    expect((await introspect(b, token)).body).toEqual({ active: false });
    const refused = await cc(b, 'new-agent', secret);
    expect({ status: refused.status, body: refused.body, challenge: refused.headers['www-authenticate'] })
      .toEqual({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' }, challenge: 'Basic realm="agent-sts"' });
    const wrong = await cc(b, 'new-agent', 'x'.repeat(43));
    expect({ status: wrong.status, body: wrong.body, challenge: wrong.headers['www-authenticate'] })
      .toEqual({ status: refused.status, body: refused.body, challenge: refused.headers['www-authenticate'] });
    expect((await api(b).get('/agents/new-agent')).body.disabled).toBe(true);

    clockMs += 2_000; // past the kill marker's allowance: only the status decides now
    expect((await api(a).post('/agents/new-agent/enable')).body).toEqual({ disabled: false });
    const again = await eventually(() => cc(b, 'new-agent', secret), (r) => r.status === 200, visible);
    expect(again.status).toBe(200);
    expect((await introspect(b, token)).body).toEqual({ active: false }); // nothing killed comes back

    const rotated = await api(a).post('/agents/new-agent/credentials', { type: 'secret', overlapSeconds: 60 });
    expect(rotated.status).toBe(201);
    expect(rotated.body).toEqual({ id: expect.any(String), client_secret: expect.any(String), previousValidUntil: new Date(clockMs + 60_000).toISOString() });
    const newSecret = rotated.body.client_secret as string;
    expect((await eventually(() => cc(b, 'new-agent', newSecret), (r) => r.status === 200, visible)).status).toBe(200);
    expect((await cc(b, 'new-agent', secret)).status).toBe(200); // inside the overlap
    clockMs += 60_001;
    expect((await cc(b, 'new-agent', secret)).status).toBe(401); // past it, on both instances
    expect((await cc(a, 'new-agent', secret)).status).toBe(401);
    expect((await cc(a, 'new-agent', newSecret)).status).toBe(200);

    const live = (await cc(a, 'new-agent', newSecret)).body.access_token as string;
    const deleted = await api(a).delete('/agents/new-agent');
    // every token new-agent got since the enable: 2 on B before the rotation, 2 on A and this one
    expect(deleted.body).toEqual({ deleted: true, revoked: 5 });
    expect((await introspect(b, live)).body).toEqual({ active: false });
    expect((await cc(b, 'new-agent', newSecret)).status).toBe(401);
    expect((await api(a).get('/agents/new-agent')).status).toBe(404);
    expect((await eventually(() => api(b).get('/agents'), (r) => !r.body.agents.some((x: { id: string }) => x.id === 'new-agent'), visible)).body.agents
      .map((x: { id: string }) => x.id)).not.toContain('new-agent');
  });

  it('a rotation without overlap ends the old secret at once here, and on the other instance once it hears', async () => {
    const created = await api(a).post('/agents', { id: 'rot-agent', owner: 'o', audiences: { [API]: ['invoices:read'] } });
    const old = created.body.client_secret as string;
    expect((await eventually(() => cc(b, 'rot-agent', old), (r) => r.status === 200, visible)).status).toBe(200);
    const rotated = await api(a).post('/agents/rot-agent/credentials', { type: 'secret' });
    expect(rotated.status).toBe(201);
    expect((await cc(a, 'rot-agent', old)).status).toBe(401);
    expect((await eventually(() => cc(b, 'rot-agent', old), (r) => r.status === 401, visible)).status).toBe(401);
    const creds = (await api(a).get('/agents/rot-agent')).body.credentials as { id: string }[];
    expect(creds.map((c) => c.id)).toEqual([rotated.body.id]);
    expect((await api(a).delete(`/agents/rot-agent/credentials/${rotated.body.id}`)).body).toEqual({ deleted: true });
    expect((await cc(a, 'rot-agent', rotated.body.client_secret)).status).toBe(401);
    expect((await api(a).delete('/agents/rot-agent/credentials/nope')).status).toBe(404);
  });

  it('bad input: 400 invalid_request naming the field, unknown fields refused, 409 for an existing id, 404 for a missing one', async () => {
    const bad = async (body: object, description: string | RegExp) => {
      const res = await api(a).post('/agents', body);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      if (typeof description === 'string') expect(res.body.error_description).toBe(description);
      else expect(res.body.error_description).toMatch(description);
    };
    const ok = { id: 'v-agent', owner: 'o', audiences: { [API]: ['invoices:read'] } };
    await bad({ ...ok, owner: undefined }, 'owner: required');
    await bad({ id: 'v-agent', owner: 'o' }, 'audiences: required');
    await bad({ ...ok, colour: 'red' }, "unknown field 'colour'");
    await bad({ ...ok, secretHash: hashSecret(SECRETS['billing-agent']!) }, "unknown field 'secretHash'");
    await bad({ ...ok, maxTokenTtlSeconds: 0 }, /^maxTokenTtlSeconds: /);
    await bad({ ...ok, delegates: ['ghost'] }, "delegates: unknown agent 'ghost'");
    await bad({ ...ok, audiences: { [API]: ['invoices:delete'] } }, `audiences['${API}']: scope 'invoices:delete' is not offered there`);
    const nowhere = 'https://invoices.example.con';
    const unregistered = `audiences['${nowhere}']: no resource server '${nowhere}' is registered (register it first: POST /admin/resource-servers)`;
    await bad({ ...ok, audiences: { [API]: ['invoices:read'], [nowhere]: ['invoices:read'] } }, unregistered);
    const before = (await api(a).get('/agents/leaf-agent')).body;
    const patched = await api(a).patch('/agents/leaf-agent', { audiences: { [nowhere]: ['invoices:read'] } });
    expect({ status: patched.status, body: patched.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: unregistered } });
    expect((await api(a).get('/agents/leaf-agent')).body).toEqual(before);
    expect((await api(a).get('/agents/v-agent')).status).toBe(404);
    await bad({ ...ok, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, /^jwks.keys\[0\]: must be a public key/);
    const dup = await api(a).post('/agents', { ...ok, id: 'billing-agent' });
    expect({ status: dup.status, error: dup.body.error }).toEqual({ status: 409, error: 'invalid_request' });
    expect((await api(a).get('/agents/ghost')).status).toBe(404);
    expect((await api(a).patch('/agents/billing-agent', { colour: 'red' })).body.error_description).toBe("unknown field 'colour'");
    expect((await api(a).patch('/agents/billing-agent', { maxTokenTtlSeconds: 'long' })).status).toBe(400);
    expect((await api(a).post('/agents/billing-agent/credentials', { type: 'secret', overlapSeconds: 7 * 86_400 + 1 })).body.error_description).toMatch(/^overlapSeconds: /);
    const readOnly = await request(a.app).post('/token').set('Authorization', basic('admin')).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'sessions:read' });
    const forbidden = await request(a.app).get('/admin/agents').set('Authorization', `Bearer ${readOnly.body.access_token}`);
    expect({ status: forbidden.status, error: forbidden.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
  });

  it('PATCH is a JSON merge patch; a narrowing kills the live sessions holding what was removed and says how many', async () => {
    const keep = await clientCredentials(b, 'billing-agent', API, 'invoices:read');
    const write = await clientCredentials(b, 'billing-agent', API, 'invoices:write');
    const other = (await clientCredentials(b, 'billing-agent', 'https://other.example.com', 'reports:read')).access_token;
    const res = await api(a).patch('/agents/billing-agent', { description: 'narrowed', audiences: { [API]: ['invoices:read'], 'https://other.example.com': null } });
    expect(res.body.error_description).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ revoked: 2, description: 'narrowed', audiences: { [API]: ['invoices:read'] }, owner: 'team-billing', updatedBy: REGISTRY_ADMIN });
    for (const t of [write.access_token, other]) expect((await introspect(b, t)).body).toEqual({ active: false });
    expect((await introspect(b, keep.access_token)).body.active).toBe(true);
    expect((await api(a).patch('/agents/billing-agent', { description: null })).body.description).toBeNull();
    expect((await api(a).patch('/agents/billing-agent', { owner: null })).status).toBe(400);
  });

  it('PATCH takes RFC 7396\'s application/merge-patch+json as well as JSON; a form, text or untyped body is refused (415) and changes nothing', async () => {
    const patch = (type: string | undefined, body: string) => {
      const r = request(a.app).patch('/admin/agents/leaf-agent').set('Authorization', `Bearer ${admin}`);
      return type === undefined ? r.send(body).unset('Content-Type') : r.set('Content-Type', type).send(body);
    };
    const merged = await patch('application/merge-patch+json', JSON.stringify({ description: 'merge-patched' }));
    expect({ status: merged.status, description: merged.body.description }).toEqual({ status: 200, description: 'merge-patched' });
    const withCharset = await patch('Application/Merge-Patch+JSON; charset=utf-8', JSON.stringify({ description: null }));
    expect({ status: withCharset.status, description: withCharset.body.description }).toEqual({ status: 200, description: null });
    const before = (await api(a).get('/agents/leaf-agent')).body;
    for (const [type, body] of [['application/x-www-form-urlencoded', 'description=csrf'], ['text/plain', '{"description":"csrf"}'],
      ['multipart/form-data; boundary=x', '--x--'], ['application/json-patch+json', '[]'], [undefined, '{"description":"csrf"}']] as const) {
      const res = await patch(type, body);
      expect({ type, status: res.status, body: res.body }).toEqual({
        type, status: 415, body: { error: 'invalid_request', error_description: 'send application/json, application/merge-patch+json or no body' },
      });
    }
    const bad = await patch('application/merge-patch+json', '{"description":');
    expect({ status: bad.status, error: bad.body.error }).toEqual({ status: 400, error: 'invalid_request' });
    expect((await api(a).get('/agents/leaf-agent')).body).toEqual(before);
  });

  it('the last enabled agents:manage holder cannot be disabled or deleted (409); with a second one it can', async () => {
    for (const call of [api(a).post(`/agents/${REGISTRY_ADMIN}/disable`), api(a).delete(`/agents/${REGISTRY_ADMIN}`)]) {
      const res = await call;
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 409, error: 'invalid_request' });
    }
    expect((await api(a).patch(`/agents/${REGISTRY_ADMIN}`, { audiences: { [ADMIN_AUD]: ['sessions:read'] } })).status).toBe(409);
    expect((await introspect(a, admin, ADMIN_AUD)).status).toBe(401); // not a resource server: the admin token is untouched
    const backup = await api(a).post('/agents', { id: BACKUP_ADMIN, owner: 'platform', audiences: { [ADMIN_AUD]: ['agents:manage'] } });
    expect(backup.status).toBe(201);
    expect((await api(a).get(`/agents/${BACKUP_ADMIN}`)).body.disabled).toBe(false);
  });

  it('POST /admin/subjects/:sub/revoke-sessions kills every session on behalf of that user, and nothing else', async () => {
    const mine = await clientCredentials(a, 'sub-agent', API, 'invoices:read');
    const res = await api(b).post('/subjects/sub-agent/revoke-sessions');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 1 });
    expect((await introspect(a, mine.access_token)).body).toEqual({ active: false });
    const events = b.events.events.filter((e) => e.type === 'subject.sessions_revoked');
    expect(events).toEqual([expect.objectContaining({ sub: 'sub-agent', revoked: 1, by: REGISTRY_ADMIN, adminSid: expect.any(String) })]);
  });

  it('every registry change was recorded as a durable event with the admin agent and its session', () => {
    const types = a.events.events.filter((e) => e.type.startsWith('agent.') && e.type !== 'agent.sessions_revoked');
    expect(types.map((e) => e.type)).toEqual(expect.arrayContaining(['agent.created', 'agent.disabled', 'agent.enabled', 'agent.credential_rotated', 'agent.deleted', 'agent.updated', 'agent.credential_deleted']));
    for (const e of types) expect(e).toMatchObject({ actor: REGISTRY_ADMIN, adminSid: expect.any(String), by: REGISTRY_ADMIN });
  });

  it('resource servers: create with a generated secret, introspect with it on the other instance, rotate, delete', async () => {
    const rsId = 'https://new-rs.example.com';
    const created = await api(a).post('/resource-servers', { id: rsId, scopes: ['x:read'] });
    expect(created.status).toBe(201);
    const secret = created.body.client_secret as string;
    const token = (await clientCredentials(a, 'sub-agent', API, 'invoices:read')).access_token;
    const asRs = (sts: TestSts, s: string) => request(sts.app).post('/introspect').set('Authorization', basic(rsId, s)).type('form').send({ token });
    expect((await eventually(() => asRs(b, secret), (r) => r.status === 200, visible)).body).toEqual({ active: false }); // another audience
    const enc = encodeURIComponent(rsId);
    expect((await api(a).get(`/resource-servers/${enc}`)).body).toMatchObject({ id: rsId, scopes: ['x:read'], source: 'api' });
    const rotated = await api(a).post(`/resource-servers/${enc}/credentials`, { type: 'secret' });
    expect(rotated.status).toBe(201);
    expect((await asRs(a, secret)).status).toBe(401);
    expect((await asRs(a, rotated.body.client_secret)).status).toBe(200);
    expect((await api(a).patch(`/resource-servers/${enc}`, { scopes: ['x:read', 'x:write'] })).body.scopes).toEqual(['x:read', 'x:write']);
    expect((await api(a).delete(`/resource-servers/${enc}`)).body).toEqual({ deleted: true });
    expect((await asRs(a, rotated.body.client_secret)).status).toBe(401);
    expect((await api(a).get('/resource-servers')).body.resourceServers.map((r: { id: string }) => r.id)).toEqual([API, 'https://other.example.com']);
  });
});

describe('STS_REGISTRY_MODE=file is not the default; the memory twin shares changes between instances of one process', () => {
  it('memory: a disable through one instance refuses the agent on the other', async () => {
    const { MemorySessionStore } = await import('../../src/store/memory/session-store.js');
    const { MemoryRegistryStore } = await import('../../src/store/memory/registry-store.js');
    const store = new MemorySessionStore();
    const shared = { stores: { sessions: store, replay: store }, registryStore: new MemoryRegistryStore() };
    const a = await startSts({ store: 'memory', live: true, registry: registry(), shared });
    const b = await startSts({ store: 'memory', live: true, registry: registry(), shared });
    try {
      const tok = await request(a.app).post('/token').set('Authorization', basic(REGISTRY_ADMIN, REGISTRY_ADMIN_SECRET)).type('form')
        .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'agents:manage' });
      const t = await clientCredentials(b, 'leaf-agent', API, 'invoices:read');
      const res = await request(a.app).post('/admin/agents/leaf-agent/disable').set('Authorization', `Bearer ${tok.body.access_token}`);
      expect(res.body).toEqual({ disabled: true, revoked: 1 });
      expect((await introspect(b, t.access_token)).body).toEqual({ active: false });
      const again = await request(b.app).post('/token').set('Authorization', basic('leaf-agent')).type('form').send({ grant_type: 'client_credentials', resource: API });
      expect(again.status).toBe(401);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('seeding: the file fills what the store lacks; STS_REGISTRY_MODE=file keeps the file authoritative for its ids', () => {
  const token = (sts: TestSts, scope: string) => request(sts.app).post('/token').set('Authorization', basic(REGISTRY_ADMIN, REGISTRY_ADMIN_SECRET)).type('form')
    .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope }).then((r) => r.body.access_token as string);

  it('store mode: a second boot with a changed file leaves the stored entries alone and imports only new ids', async () => {
    const a = await startSts({ live: true, registry: registry() });
    const changed = registry();
    changed.agents = changed.agents!.map((x) => (x.id === 'leaf-agent' ? { ...x, disabled: true } : x));
    changed.agents.push({ id: 'late-agent', secretHash: hashSecret(SECRETS['leaf-agent']!), audiences: { [API]: ['invoices:read'] } });
    const b = await startSts({ live: true, registry: changed, prefix: a.prefix });
    try {
      expect((await clientCredentials(b, 'leaf-agent', API, 'invoices:read')).access_token).toEqual(expect.any(String));
      const admin = await token(b, 'agents:read');
      const late = await request(b.app).get('/admin/agents/late-agent').set('Authorization', `Bearer ${admin}`);
      expect(late.body).toMatchObject({ id: 'late-agent', source: 'file' });
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('file mode: API writes to file ids answer 409, other ids are managed as usual; the file rewrites its ids at boot', async () => {
    const a = await startSts({ live: true, registry: registry(), registryMode: 'file' });
    const changed = registry();
    changed.agents = changed.agents!.map((x) => (x.id === 'leaf-agent' ? { ...x, disabled: true } : x));
    try {
      const admin = await token(a, 'agents:manage');
      const call = (method: 'post' | 'patch' | 'delete', path: string, body?: object) =>
        request(a.app)[method](`/admin${path}`).set('Authorization', `Bearer ${admin}`).send(body);
      for (const res of [
        await call('patch', '/agents/billing-agent', { description: 'x' }),
        await call('post', '/agents/billing-agent/disable'),
        await call('delete', '/agents/billing-agent'),
        await call('post', '/agents/billing-agent/credentials', { type: 'secret' }),
        await call('post', `/resource-servers/${encodeURIComponent(API)}/credentials`, { type: 'secret' }),
      ]) {
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 409, error: 'invalid_request' });
        expect(res.body.error_description).toMatch(/managed by the registry file/);
      }
      expect((await call('post', '/agents', { id: 'api-agent', owner: 'o', audiences: { [API]: ['invoices:read'] } })).status).toBe(201);
      expect((await call('post', '/agents/api-agent/disable')).body).toEqual({ disabled: true, revoked: 0 });
      const t = await clientCredentials(a, 'leaf-agent', API, 'invoices:read');
      const b = await startSts({ live: true, registry: changed, registryMode: 'file', prefix: a.prefix });
      try {
        expect((await introspect(b, t.access_token)).body).toEqual({ active: false });
        const refused = await request(b.app).post('/token').set('Authorization', basic('leaf-agent')).type('form').send({ grant_type: 'client_credentials', resource: API });
        expect(refused.status).toBe(401);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });
});
