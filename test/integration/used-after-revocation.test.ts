import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { StsEvent } from '../../src/audit/events.js';
import { USED_AFTER_REVOCATION_EVERY_MS } from '../../src/sessions/service.js';
import { eventually } from '../helpers/wait.js';
import { attackerKey, signWithHeader } from '../helpers/attack.js';
import {
  adminToken, API, basic, claims, clientCredentials, exchange, introspect, startSts, type StoreKind, type TestSts,
} from '../helpers/sts.js';

/**
 * token.used_after_revocation: a token we issued whose session a kill removed, presented again at
 * /introspect, /token (as subject or actor token) or /revoke, is reported, once per session per
 * window; a forged token naming a killed sid, and a merely expired or unknown one, are not.
 */

const used = (sts: TestSts) => sts.events.events.filter((e): e is Extract<StsEvent, { type: 'token.used_after_revocation' }> => e.type === 'token.used_after_revocation');

describe.each<StoreKind>(['redis', 'memory'])('token.used_after_revocation (%s store)', (store) => {
  let sts: TestSts;
  let now = Date.now();

  beforeAll(async () => {
    sts = await startSts({ store, clock: { nowMs: () => now } });
  });
  afterAll(async () => {
    await sts.close();
  });

  const killed = async () => {
    const token = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    // a fresh admin token each time: the tests move the clock on
    const admin = await adminToken(sts);
    const kill = await request(sts.app).delete(`/admin/sessions/${String(claims(token).sid)}`).set('Authorization', `Bearer ${admin}`);
    expect(kill.body).toEqual({ revoked: 1 });
    return token;
  };

  it('at /introspect: reported with the session, its holder and who presented it; the answer is still inactive', async () => {
    const token = await killed();
    const before = used(sts).length;
    const res = await introspect(sts, token);
    expect(res.body).toEqual({ active: false });
    expect(used(sts).slice(before)).toEqual([expect.objectContaining({
      type: 'token.used_after_revocation', endpoint: 'introspect', sid: claims(token).sid, agent: 'billing-agent', sub: 'billing-agent', aud: API, actor: API,
    })]);
  });

  it('once per session per window: a flood of the same token adds no more; after the window, one more', async () => {
    const token = await killed();
    const before = used(sts).length;
    for (let i = 0; i < 20; i++) await introspect(sts, token);
    expect(used(sts).length - before).toBe(1);
    now += USED_AFTER_REVOCATION_EVERY_MS;
    await introspect(sts, token);
    expect(used(sts).length - before).toBe(2);
  });

  it('at /token, exchanged as the subject token: reported, and the exchange refused', async () => {
    const token = await killed();
    const before = used(sts).length;
    const res = await exchange(sts, 'sub-agent', token, API, 'invoices:read');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(used(sts).slice(before)).toEqual([expect.objectContaining({ endpoint: 'token', sid: claims(token).sid, actor: 'sub-agent' })]);
  });

  it('at /revoke: reported, and the answer is the usual 200', async () => {
    const token = await killed();
    const before = used(sts).length;
    const res = await request(sts.app).post('/revoke').set('Authorization', basic('billing-agent')).type('form').send({ token });
    expect(res.status).toBe(200);
    expect(used(sts).slice(before)).toEqual([expect.objectContaining({ endpoint: 'revoke', sid: claims(token).sid, actor: 'billing-agent' })]);
  });

  it('a forged token naming a killed sid (signed with another key) writes nothing; nor does a live, unknown or unkilled expired one', async () => {
    const token = await killed();
    const attacker = await attackerKey(claims(token).sid as string);
    const [header] = token.split('.');
    const forged = await signWithHeader(JSON.parse(Buffer.from(header!, 'base64url').toString()), { ...claims(token), scope: 'invoices:write' }, attacker.privateKey);
    const live = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const before = used(sts).length;
    expect((await introspect(sts, forged)).body).toEqual({ active: false });
    expect((await introspect(sts, live)).body.active).toBe(true);
    expect((await introspect(sts, `${live.slice(0, -4)}AAAA`)).body).toEqual({ active: false });
    now += 400_000;
    expect((await introspect(sts, live)).body).toEqual({ active: false });
    expect(used(sts).length).toBe(before);
  });

  if (store === 'redis') {
    it('the kill leaves the killed sids in a set of the tree\'s slot that expires with them', async () => {
      const token = await killed();
      const sid = String(claims(token).sid);
      expect(await sts.redis!.sismember(sts.keys!.killed(sid), sid)).toBe(1);
      const pexpireAt = await sts.redis!.pexpiretime(sts.keys!.killed(sid));
      expect(pexpireAt).toBe(Number(claims(token).exp) * 1000);
    });

    it('is in the audit trail, hash-chained like every other record', async () => {
      const token = await killed();
      now += USED_AFTER_REVOCATION_EVERY_MS;
      await introspect(sts, token);
      const found = await eventually(
        async () => (await sts.deps.audit!.trail.backward({ count: 20 })).map((r) => r.body).find((b) => b.includes('token.used_after_revocation') && b.includes(String(claims(token).sid))),
        Boolean,
      );
      expect(found).toBeDefined();
    });
  }
});
