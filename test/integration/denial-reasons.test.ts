import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { expectOAuthError, ok } from '../helpers/responses.js';
import { API, basic, clientCredentials, exchange, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * Every token.denied names a precise reason code beside the OAuth error, so the audit trail says
 * why (issue "Prove what happened…"); the client still sees only the OAuth error and its text.
 */
describe('token.denied reason codes', () => {
  let sts: TestSts;
  let root: string;

  beforeAll(async () => {
    sts = await startSts({ registry: testRegistry() });
    root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  /** Sends a refused request; returns the one token.denied it recorded, after checking the client saw no reason. */
  async function denial(send: () => PromiseLike<request.Response>, status: number, error: string) {
    const n = sts.events.events.length;
    const res = await send();
    expectOAuthError(res, status, error);
    expect(res.text).not.toContain('reason');
    const denied = sts.events.events.slice(n).filter((e) => e.type === 'token.denied');
    expect(denied).toHaveLength(1);
    return denied[0] as { error: string; reason: string };
  }

  it.each([
    ['not_a_delegate', () => exchange(sts, 'outsider-agent', root, API, 'invoices:read'), 400, 'invalid_grant'],
    ['scope_not_in_subject', () => exchange(sts, 'sub-agent', root, API, 'invoices:write'), 400, 'invalid_scope'],
    ['subject_inactive', () => exchange(sts, 'sub-agent', `${root.slice(0, -4)}AAAA`, API, 'invoices:read'), 400, 'invalid_grant'],
    ['target_not_entitled', () => request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form').send({ grant_type: 'client_credentials', resource: 'https://nowhere.example.com', scope: 'x' }), 400, 'invalid_target'],
    ['grant_type_not_allowed', () => exchange(sts, 'no-exchange-agent', root, API, 'invoices:read'), 400, 'unauthorized_client'],
    ['agent_disabled', () => request(sts.app).post('/token').set('Authorization', basic('disabled-agent')).type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' }), 401, 'invalid_client'],
    ['client_authentication_failed', () => request(sts.app).post('/token').set('Authorization', basic('billing-agent', 'x'.repeat(40))).type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' }), 401, 'invalid_client'],
  ] as const)('%s', async (reason, send, status, error) => {
    expect(await denial(send, status, error)).toMatchObject({ error, reason });
  });

  it('depth_exceeded: a chain deeper than its smallest limit', async () => {
    const child = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
    const grandchild = await ok(exchange(sts, 'leaf-agent', child, API, 'invoices:read'));
    expect(await denial(() => exchange(sts, 'leaf-agent', grandchild, API, 'invoices:read'), 400, 'invalid_grant')).toMatchObject({ reason: 'depth_exceeded' });
  });

  it('a refusal with no more precise cause records its OAuth error as the reason', async () => {
    const d = await denial(() => request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form').send({ grant_type: 'password' }), 400, 'unsupported_grant_type');
    expect(d).toMatchObject({ error: 'unsupported_grant_type', reason: 'unsupported_grant_type' });
  });
});
