import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { INVALID_CLIENT_BODY } from '../helpers/attack.js';
import { ADMIN_AUD, API, AT_TYPE, basic, claims, clientCredentials, exchange, EXCHANGE, introspect, SECRETS, snapshot, startSts, testRegistry, type StoreKind, type TestSts } from '../helpers/sts.js';
import { hashSecret } from '../../src/clients/secret.js';
import { expectRefused } from '../helpers/responses.js';

/**
 * Privilege escalation through token exchange and the admin API, beyond what the token-exchange and
 * kill-tree tests already pin: a disabled or unknown agent exchanging, a delegate widening its own
 * narrowed token back to its parent's scope, scope-spelling tricks, an admin widening its scope by
 * exchange, and tokens whose parent was killed used as actor tokens or admin tokens.
 */

const AGENTS: Record<string, string> = {
  'esc-root': 'esc-root-secret-0123456789abcdefghijklm',
  'esc-child': 'esc-child-secret-0123456789abcdefghijkl',
  'esc-disabled': 'esc-disabled-secret-0123456789abcdefgh',
  'esc-admin': 'esc-admin-secret-0123456789abcdefghijkl',
  'esc-reader': 'esc-reader-secret-0123456789abcdefghijk',
};

describe.each<StoreKind>(['redis', 'memory'])('escalation (%s store)', (store) => {
  let sts: TestSts;
  let root: string;
  let childRead: string;

  beforeAll(async () => {
    Object.assign(SECRETS, AGENTS);
    const h = (id: string) => hashSecret(AGENTS[id]!);
    const rw = { [API]: ['invoices:read', 'invoices:write'] };
    sts = await startSts({
      store,
      registry: testRegistry({
        agents: [
          { id: 'esc-root', secretHash: h('esc-root'), audiences: rw, grantTypes: ['client_credentials', EXCHANGE], maxDelegationDepth: 4, delegates: ['esc-child', 'esc-disabled'] },
          { id: 'esc-child', secretHash: h('esc-child'), audiences: rw, grantTypes: ['client_credentials', EXCHANGE], maxDelegationDepth: 4 },
          { id: 'esc-disabled', secretHash: h('esc-disabled'), audiences: rw, grantTypes: ['client_credentials', EXCHANGE], maxDelegationDepth: 4, disabled: true },
          {
            id: 'esc-admin', secretHash: h('esc-admin'), grantTypes: ['client_credentials', EXCHANGE], maxDelegationDepth: 2, delegates: ['esc-reader'],
            audiences: { [ADMIN_AUD]: ['sessions:read', 'sessions:kill'] },
          },
          { id: 'esc-reader', secretHash: h('esc-reader'), grantTypes: ['client_credentials', EXCHANGE], maxDelegationDepth: 2, audiences: { [ADMIN_AUD]: ['sessions:read'] } },
        ],
      }),
    });
    root = (await clientCredentials(sts, 'esc-root', API, 'invoices:read invoices:write')).access_token;
    const res = await exchange(sts, 'esc-child', root, API, 'invoices:read');
    expect(res.status).toBe(200);
    childRead = res.body.access_token as string;
  });
  afterAll(async () => {
    for (const id of Object.keys(AGENTS)) delete SECRETS[id];
    await sts.close();
  });

  describe('exchange by an agent that may not authenticate', () => {
    it('a disabled agent listed as a delegate, with its correct secret → 401 invalid_client, the generic body', async () => {
      const res = await expectRefused(sts, () => exchange(sts, 'esc-disabled', root, API, 'invoices:read'), 401, 'invalid_client');
      expect(res.text).toBe(INVALID_CLIENT_BODY);
      expect(res.headers['www-authenticate']).toBe('Basic realm="agent-sts"');
    });

    it('an unknown agent → 401 invalid_client, byte-identical to the disabled agent (body and challenge)', async () => {
      const disabled = await exchange(sts, 'esc-disabled', root, API, 'invoices:read');
      const unknown = await expectRefused(
        sts,
        () => exchange(sts, 'ghost-agent', root, API, 'invoices:read').set('Authorization', basic('ghost-agent', AGENTS['esc-disabled'])),
        401, 'invalid_client',
      );
      expect(unknown.text).toBe(disabled.text);
      expect(unknown.headers['www-authenticate']).toBe(disabled.headers['www-authenticate']);
    });

    it('a disabled agent naming itself in client_id with client_secret_post → the same refusal', async () => {
      await expectRefused(
        sts,
        () => request(sts.app).post('/token').type('form').send({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: root, subject_token_type: AT_TYPE, resource: API,
          scope: 'invoices:read', client_id: 'esc-disabled', client_secret: AGENTS['esc-disabled'],
        }),
        401, 'invalid_client', { body: INVALID_CLIENT_BODY },
      );
    });
  });

  describe("a delegate widening its own token back to its parent's scope", () => {
    it('control: the delegate holds invoices:read only, and its parent held invoices:write too', () => {
      expect(claims(childRead)).toMatchObject({ client_id: 'esc-child', scope: 'invoices:read', act: { sub: 'esc-child' } });
      expect(claims(root).scope).toBe('invoices:read invoices:write');
    });

    it.each([
      ['invoices:write'],
      ['invoices:read invoices:write'],
    ])('the delegate exchanging its read-only token for "%s" (which it is entitled to and the parent holds) → 400 invalid_scope', async (scope) => {
      await expectRefused(sts, () => exchange(sts, 'esc-child', childRead, API, scope), 400, 'invalid_scope');
    });

    it('the same through `audience` instead of `resource` → 400 invalid_scope', async () => {
      await expectRefused(
        sts,
        () => request(sts.app).post('/token').set('Authorization', basic('esc-child')).type('form').send({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: childRead, subject_token_type: AT_TYPE, audience: API,
          scope: 'invoices:write',
        }),
        400, 'invalid_scope',
      );
    });

    it("the delegating agent exchanging its delegate's narrowed token → 400 invalid_grant (delegation never runs backwards)", async () => {
      await expectRefused(sts, () => exchange(sts, 'esc-root', childRead, API, 'invoices:read invoices:write'), 400, 'invalid_grant');
    });

    it.each([
      ['a tab as separator', 'invoices:read\tinvoices:write'],
      ['a newline as separator', 'invoices:read\ninvoices:write'],
      ['a comma as separator', 'invoices:read,invoices:write'],
      ['a no-break space as separator', 'invoices:read\u00a0invoices:write'],
      ['a different case', 'INVOICES:WRITE'],
      ['a wildcard', 'invoices:*'],
      ['a prefix', 'invoices'],
      ['a trailing space (parsed as invoices:write: still beyond the token)', 'invoices:write '],
      ['an encoded colon', 'invoices%3Awrite'],
    ])('scope spelled with %s → 400 invalid_scope', async (_name, scope) => {
      await expectRefused(sts, () => exchange(sts, 'esc-child', childRead, API, scope), 400, 'invalid_scope');
    });
  });

  describe('an admin widening its scope by exchange', () => {
    let readAdmin: string;
    beforeAll(async () => {
      const full = (await clientCredentials(sts, 'esc-admin', ADMIN_AUD, 'sessions:read sessions:kill')).access_token;
      const res = await exchange(sts, 'esc-reader', full, ADMIN_AUD, 'sessions:read');
      expect(res.status).toBe(200);
      readAdmin = res.body.access_token as string;
    });

    it('the read-only delegate asking sessions:kill from its read-only token → 400 invalid_scope', async () => {
      await expectRefused(sts, () => exchange(sts, 'esc-reader', readAdmin, ADMIN_AUD, 'sessions:read sessions:kill'), 400, 'invalid_scope');
    });

    it('and its read-only token cannot kill: DELETE → 403 insufficient_scope, nothing killed', async () => {
      const res = await expectRefused(
        sts,
        () => request(sts.app).delete(`/admin/sessions/${claims(root).sid as string}`).set('Authorization', `Bearer ${readAdmin}`),
        403, 'insufficient_scope', { events: 'none' },
      );
      expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
      expect((await introspect(sts, root)).body.active).toBe(true);
    });
  });

  describe('tokens whose parent was killed', () => {
    it('a delegated admin token stops working at the admin API once its parent admin session is killed', async () => {
      const full = (await clientCredentials(sts, 'esc-admin', ADMIN_AUD, 'sessions:read sessions:kill')).access_token;
      const child = (await exchange(sts, 'esc-reader', full, ADMIN_AUD, 'sessions:read')).body.access_token as string;
      const list = (t: string) => request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${t}`);
      expect((await list(child)).status).toBe(200);
      const kill = await request(sts.app).delete(`/admin/sessions/${claims(full).sid as string}`).set('Authorization', `Bearer ${full}`);
      expect(kill.body).toEqual({ revoked: 2 });
      await expectRefused(sts, () => list(child), 401, 'invalid_token', { events: 'none' });
    });

    it('a child used as actor_token after its parent was killed → 400 invalid_grant', async () => {
      const own = (await clientCredentials(sts, 'esc-child', API, 'invoices:read invoices:write')).access_token;
      const ownChild = (await exchange(sts, 'esc-child', own, API, 'invoices:read')).body.access_token as string;
      const killer = (await clientCredentials(sts, 'admin', ADMIN_AUD, 'sessions:kill')).access_token;
      const kill = await request(sts.app).delete(`/admin/sessions/${claims(own).sid as string}`).set('Authorization', `Bearer ${killer}`);
      expect(kill.body).toEqual({ revoked: 2 });
      await expectRefused(
        sts,
        () => exchange(sts, 'esc-child', root, API, 'invoices:read', { actor_token: ownChild, actor_token_type: AT_TYPE }),
        400, 'invalid_grant', { events: 'used-after-revocation' },
      );
    });

    it('revoking a token whose parent was killed → 200 and nothing changes', async () => {
      const p = (await clientCredentials(sts, 'esc-root', API, 'invoices:read')).access_token;
      const c = (await exchange(sts, 'esc-child', p, API, 'invoices:read')).body.access_token as string;
      await request(sts.app).post('/revoke').set('Authorization', basic('esc-root')).type('form').send({ token: p });
      const before = await snapshot(sts);
      const res = await request(sts.app).post('/revoke').set('Authorization', basic('esc-child')).type('form').send({ token: c });
      expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
      expect(await snapshot(sts)).toEqual(before);
    });
  });

  it('none of the refusals touched the chain: root and the delegate token are still active', async () => {
    expect((await introspect(sts, root)).body).toMatchObject({ active: true, scope: 'invoices:read invoices:write' });
    expect((await introspect(sts, childRead)).body).toMatchObject({ active: true, scope: 'invoices:read' });
  });
});
