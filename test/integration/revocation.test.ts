import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import {
  API, basic, clientCredentials, exchange, introspect, SECRETS, startSts, type TestSts, snapshot,
} from '../helpers/sts.js';
import { ANY_ISO_TIME, expectOAuthError, killedIn, killedLines, ok, sidOf } from '../helpers/responses.js';

/**
 * POST /revoke (RFC 7009) against real Redis: an agent revokes its own token, which kills its
 * session and every descendant; unknown or invalid tokens and other agents' tokens answer 200 and
 * change nothing; client authentication and the token parameter are required.
 */

type Res = request.Response;

/** RFC 7009 §2.2: 200, and the content of the response body is ignored by the client: ours is empty. */
function expectRevokeOk(res: Res): void {
  expect(res.status).toBe(200);
  expect(res.text).toBe('');
  expect(res.headers['cache-control']).toBe('no-store');
}

describe('POST /revoke (RFC 7009)', () => {
  let sts: TestSts;
  let now = Date.now();

  beforeAll(async () => {
    sts = await startSts({ clock: { nowMs: () => now } });
  });
  afterAll(async () => {
    await sts.close();
  });

  const revoke = (agent: string | undefined, body: Record<string, string>) => {
    const req = request(sts.app).post('/revoke');
    if (agent) req.set('Authorization', basic(agent));
    return req.type('form').send(body);
  };
  const isActive = async (token: string) => (await introspect(sts, token)).body.active as boolean;

  /** A billing-agent root with a delegated sub-agent child and a leaf-agent grandchild. */
  async function chain(): Promise<{ root: string; mid: string; leaf: string }> {
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const mid = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
    const leaf = await ok(exchange(sts, 'leaf-agent', mid, API, 'invoices:read'));
    return { root, mid, leaf };
  }

  /** Nothing in Redis changes and no revocation event is emitted. */
  async function changesNothing(send: () => PromiseLike<Res>): Promise<Res> {
    const before = await snapshot(sts);
    const n = sts.events.events.length;
    const res = await send();
    expect(await snapshot(sts)).toEqual(before);
    expect(sts.events.events.slice(n).filter((e) => e.type === 'session.revoked')).toEqual([]);
    return res;
  }

  describe('the holder revokes its own token', () => {
    it('root token → 200 with an empty body; the token and all its descendants are inactive and gone from Redis', async () => {
      const { root, mid, leaf } = await chain();
      const sibling = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const n = sts.events.events.length;
      expectRevokeOk(await revoke('billing-agent', { token: root }));
      for (const t of [root, mid, leaf]) expect((await introspect(sts, t)).body).toEqual({ active: false });
      expect(await isActive(sibling)).toBe(true);
      const dump = JSON.stringify(await snapshot(sts));
      for (const t of [root, mid, leaf]) {
        expect(await sts.redis!.exists(sts.keys!.session(sidOf(t)), sts.keys!.children(sidOf(t)))).toBe(0);
        expect(dump).not.toContain(sidOf(t));
      }
      // The audit events: the request, then one session.revoked for the root, counting the whole subtree.
      expect(sts.events.events.slice(n)).toEqual([
        {
          type: 'revocation.requested', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'billing-agent',
          of: 'session', sid: sidOf(root), by: 'billing-agent', reason: 'revocation',
        },
        {
          type: 'session.revoked', time: ANY_ISO_TIME, requestId: expect.any(String), actor: 'billing-agent',
          sid: sidOf(root), revoked: 3, sessions: expect.any(Array), by: 'billing-agent', reason: 'revocation',
        },
        // then each killed token introspected above is reported
        ...[root, mid, leaf].map((t) => expect.objectContaining({ type: 'token.used_after_revocation', endpoint: 'introspect', sid: sidOf(t) })),
      ]);
      expect(killedIn(sts.events.events.slice(n))).toEqual(killedLines([root, mid, leaf], API));
    });

    it('a delegated token, revoked by the delegate that holds it: it and its descendant die, the parent lives', async () => {
      const { root, mid, leaf } = await chain();
      expectRevokeOk(await revoke('sub-agent', { token: mid }));
      expect(await isActive(mid)).toBe(false);
      expect(await isActive(leaf)).toBe(false);
      expect(await isActive(root)).toBe(true);
      expect(await sts.redis!.smembers(sts.keys!.children(sidOf(root)))).not.toContain(sidOf(mid));
      // The parent can still be exchanged: revoking a child does not touch it.
      await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
    });

    it('a revoked token cannot be exchanged any more → invalid_grant', async () => {
      const { root } = await chain();
      expectRevokeOk(await revoke('billing-agent', { token: root }));
      const res = await exchange(sts, 'billing-agent', root, API, 'invoices:read');
      expectOAuthError(res, 400, 'invalid_grant');
    });

    it('client_secret_post authenticates as well as Basic', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      expectRevokeOk(await revoke(undefined, { token: t, client_id: 'billing-agent', client_secret: SECRETS['billing-agent']! }));
      expect(await isActive(t)).toBe(false);
    });

    it('token_type_hint access_token is accepted', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      expectRevokeOk(await revoke('billing-agent', { token: t, token_type_hint: 'access_token' }));
      expect(await isActive(t)).toBe(false);
    });

    it('a wrong token_type_hint (refresh_token) still finds and revokes the token (RFC 7009 §2.1: the search extends)', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      expectRevokeOk(await revoke('billing-agent', { token: t, token_type_hint: 'refresh_token' }));
      expect(await isActive(t)).toBe(false);
    });

    it('revoking the same token twice → 200 both times; the second changes nothing', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      expectRevokeOk(await revoke('billing-agent', { token: t }));
      expectRevokeOk(await changesNothing(() => revoke('billing-agent', { token: t })));
    });

    it('an expired token → 200, nothing changes', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const saved = now;
      now = saved + 301_000;
      try {
        expectRevokeOk(await changesNothing(() => revoke('billing-agent', { token: t })));
      } finally {
        now = saved;
      }
    });
  });

  describe('tokens that are not revoked: 200 and nothing changes', () => {
    it('garbage, an empty-looking JWT, an over-long string', async () => {
      for (const token of ['garbage', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'x'.repeat(5_000)]) {
        expectRevokeOk(await changesNothing(() => revoke('billing-agent', { token })));
      }
    });

    it('a tampered token naming a live session (wrong signature) does not revoke that session', async () => {
      const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
      const [h, p] = t.split('.');
      const forged = `${h}.${p}.${Buffer.alloc(64, 7).toString('base64url')}`;
      expectRevokeOk(await changesNothing(() => revoke('billing-agent', { token: forged })));
      expect(await isActive(t)).toBe(true);
    });

    it('another agent revoking billing-agent’s token (an outsider, its own delegate) → 200, the token stays active', async () => {
      const { root, mid, leaf } = await chain();
      for (const agent of ['outsider-agent', 'sub-agent', 'leaf-agent']) {
        expectRevokeOk(await changesNothing(() => revoke(agent, { token: root })));
      }
      for (const t of [root, mid, leaf]) expect(await isActive(t)).toBe(true);
    });

    it('the delegating agent revoking its delegate’s token → 200, the delegate’s token stays active', async () => {
      const { mid, leaf } = await chain();
      expectRevokeOk(await changesNothing(() => revoke('billing-agent', { token: mid })));
      expectRevokeOk(await changesNothing(() => revoke('sub-agent', { token: leaf })));
      expect(await isActive(mid)).toBe(true);
      expect(await isActive(leaf)).toBe(true);
    });
  });

  describe('malformed or unauthenticated requests', () => {
    let token: string;
    beforeAll(async () => {
      token = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    });

    it('no client authentication → 401 invalid_client, the token stays active', async () => {
      const res = await changesNothing(() => revoke(undefined, { token }));
      expectOAuthError(res, 401, 'invalid_client');
      expect(await isActive(token)).toBe(true);
    });

    it('a wrong secret over Basic → 401 invalid_client with a Basic challenge', async () => {
      const res = await changesNothing(() =>
        request(sts.app).post('/revoke').set('Authorization', basic('billing-agent', 'wrong-secret-0123456789abcdefghijklmn')).type('form').send({ token }),
      );
      expectOAuthError(res, 401, 'invalid_client');
      expect(res.headers['www-authenticate']).toMatch(/^Basic /);
      expect(await isActive(token)).toBe(true);
    });

    it('a resource server’s credentials (not an agent) → 401 invalid_client', async () => {
      const res = await changesNothing(() => revoke(API, { token }));
      expectOAuthError(res, 401, 'invalid_client');
      expect(await isActive(token)).toBe(true);
    });

    it('no token parameter → 400 invalid_request', async () => {
      expectOAuthError(await changesNothing(() => revoke('billing-agent', {})), 400, 'invalid_request');
      expectOAuthError(await changesNothing(() => revoke('billing-agent', { token: '' })), 400, 'invalid_request');
    });

    it('the token repeated → 400 invalid_request, nothing revoked', async () => {
      const res = await changesNothing(() =>
        request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form')
          .send(new URLSearchParams([['token', token], ['token', token]]).toString()),
      );
      expectOAuthError(res, 400, 'invalid_request');
      expect(await isActive(token)).toBe(true);
    });

    it('the token in the query string, or a GET → 400 invalid_request, nothing revoked', async () => {
      const q = await changesNothing(() =>
        request(sts.app).post(`/revoke?token=${encodeURIComponent(token)}`).set('Authorization', basic('billing-agent')).type('form').send(''),
      );
      expectOAuthError(q, 400, 'invalid_request');
      const g = await changesNothing(() => request(sts.app).get(`/revoke?token=${encodeURIComponent(token)}`).set('Authorization', basic('billing-agent')));
      expectOAuthError(g, 400, 'invalid_request');
      expect(await isActive(token)).toBe(true);
    });

    it('a JSON body → 400 invalid_request, nothing revoked', async () => {
      const res = await changesNothing(() =>
        request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).set('Content-Type', 'application/json').send(JSON.stringify({ token })),
      );
      expectOAuthError(res, 400, 'invalid_request');
      expect(await isActive(token)).toBe(true);
    });
  });
});
