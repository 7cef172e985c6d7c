import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Agent } from '../../src/clients/types.js';
import { expectOAuthError, ok } from '../helpers/responses.js';
import { API, clientCredentials, exchange, introspect, startSts, type TestSts } from '../helpers/sts.js';

/**
 * Outside review, finding 1: a token lives only while every agent on its chain — the holder of each
 * ancestor session, its own holder, every actor — is enabled and every hand-over along the chain is
 * still allowed. Before, the check read the token's client_id and act only: disabling the agent that
 * delegated (or removing a delegate) left the delegated tokens alive and exchangeable.
 *
 * The registry is changed in place, as a live registry (or a restart with an edited file) would.
 */
describe('every agent on the chain, ancestors’ holders included', () => {
  let sts: TestSts;
  let agent: (id: string) => Agent | undefined;
  /** Registry edits for the current test: id → what the registry now says of that agent. */
  let edits: Record<string, (a: Agent) => Agent> = {};

  beforeAll(async () => {
    sts = await startSts();
    const registry = sts.deps.registry;
    const original = registry.agent.bind(registry);
    agent = original;
    registry.agent = (id) => {
      const a = original(id);
      return a && edits[id] ? edits[id]!(a) : a;
    };
  });
  afterEach(() => {
    edits = {};
  });
  afterAll(async () => {
    await sts.close();
  });

  /** billing-agent's root R → sub-agent's child S → leaf-agent's grandchild L. */
  async function chain() {
    const R = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const S = await ok(exchange(sts, 'sub-agent', R, API, 'invoices:read'));
    const L = await ok(exchange(sts, 'leaf-agent', S, API, 'invoices:read'));
    return { R, S, L };
  }
  const active = async (token: string) => (await introspect(sts, token)).body.active as boolean;

  it('control: the whole chain is active, and each holder can exchange its token', async () => {
    const { R, S, L } = await chain();
    expect([await active(R), await active(S), await active(L)]).toEqual([true, true, true]);
    expect((await exchange(sts, 'sub-agent', S, API, 'invoices:read')).status).toBe(200);
    expect(await agent('billing-agent')).toMatchObject({ delegates: ['sub-agent'] });
  });

  it('the root holder disabled → its delegated child and grandchild introspect inactive and cannot be exchanged', async () => {
    const { R, S, L } = await chain();
    edits['billing-agent'] = (a) => ({ ...a, disabled: true });
    for (const t of [R, S, L]) expect((await introspect(sts, t)).text).toBe('{"active":false}');
    expectOAuthError(await exchange(sts, 'sub-agent', S, API, 'invoices:read'), 400, 'invalid_grant');
    expectOAuthError(await exchange(sts, 'leaf-agent', L, API, 'invoices:read'), 400, 'invalid_grant');
  });

  it('the root holder removed from the registry → the same', async () => {
    const { S, L } = await chain();
    const registry = sts.deps.registry;
    const patched = registry.agent;
    registry.agent = (id) => (id === 'billing-agent' ? undefined : patched(id));
    try {
      expect([await active(S), await active(L)]).toEqual([false, false]);
      expectOAuthError(await exchange(sts, 'sub-agent', S, API, 'invoices:read'), 400, 'invalid_grant');
    } finally {
      registry.agent = patched;
    }
  });

  it('sub-agent no longer a delegate of billing-agent → S and L inactive, and sub-agent cannot mint children from S', async () => {
    const { R, S, L } = await chain();
    edits['billing-agent'] = (a) => ({ ...a, delegates: [] });
    expect([await active(R), await active(S), await active(L)]).toEqual([true, false, false]);
    expectOAuthError(await exchange(sts, 'sub-agent', S, API, 'invoices:read'), 400, 'invalid_grant');
  });

  it('leaf-agent no longer a delegate of sub-agent → only L inactive', async () => {
    const { R, S, L } = await chain();
    edits['sub-agent'] = (a) => ({ ...a, delegates: [] });
    expect([await active(R), await active(S), await active(L)]).toEqual([true, true, false]);
  });

  it('a middle holder disabled → its own token and everything below it inactive, the root stays active', async () => {
    const { R, S, L } = await chain();
    edits['sub-agent'] = (a) => ({ ...a, disabled: true });
    expect([await active(R), await active(S), await active(L)]).toEqual([true, false, false]);
  });

  it('the registry restored → the same tokens are active again (the chain rule gates, it does not kill)', async () => {
    const { S, L } = await chain();
    edits['billing-agent'] = (a) => ({ ...a, disabled: true });
    expect([await active(S), await active(L)]).toEqual([false, false]);
    edits = {};
    expect([await active(S), await active(L)]).toEqual([true, true]);
  });
});
