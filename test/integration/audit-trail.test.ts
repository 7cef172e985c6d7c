import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { compactVerify, createLocalJWKSet } from 'jose';
import request from 'supertest';
import { CHECKPOINT_TYP } from '../../src/audit/checkpoint.js';
import { GENESIS_HASH, linkHash, sha256Hex } from '../../src/store/audit.js';
import {
  ADMIN_AUD, adminToken, API, basic, claims, clientCredentials, exchange, startSts, type TestSts,
} from '../helpers/sts.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

/**
 * The audit trail end to end against real Redis: every issuance and kill is a chained record
 * before the answer, the admin read/verify/checkpoint endpoints, and tampering (an edit, a
 * deletion, a truncated tail, a re-chained history) reported by verify.
 */

type Res = request.Response;
type Entry = [string, string[]];

const auditorToken = async (sts: TestSts) => (await clientCredentials(sts, 'auditor', ADMIN_AUD, 'audit:read')).access_token;
const get = (sts: TestSts, token: string, path: string) => request(sts.app).get(path).set('Authorization', `Bearer ${token}`);

async function entries(sts: TestSts): Promise<Entry[]> {
  return (await sts.redis!.xrange(sts.keys!.auditStream(), '-', '+')) as Entry[];
}

/** Rewrites the whole stream (XADD cannot edit), record by record, through `edit`. */
async function rewrite(sts: TestSts, edit: (fields: Record<string, string>, i: number) => Record<string, string> | null): Promise<void> {
  const all = await entries(sts);
  await sts.redis!.del(sts.keys!.auditStream());
  for (const [i, [id, flat]] of all.entries()) {
    const f: Record<string, string> = {};
    for (let j = 0; j < flat.length; j += 2) f[flat[j]!] = flat[j + 1]!;
    const out = edit(f, i);
    if (out) await sts.redis!.xadd(sts.keys!.auditStream(), id, ...Object.entries(out).flat());
  }
}

describe('audit trail: durable records, read and verify', () => {
  let sts: TestSts;
  let auditor: string;
  let admin: string;
  let issued: string[];

  beforeAll(async () => {
    sts = await startSts();
    issued = [];
    for (let i = 0; i < 3; i++) issued.push((await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token);
    const res = await exchange(sts, 'sub-agent', issued[0]!, API, 'invoices:read');
    expect(res.status).toBe(200);
    issued.push((res.body as { access_token: string }).access_token);
    admin = await adminToken(sts);
    auditor = await auditorToken(sts);
  });
  afterAll(async () => {
    await sts.close();
  });

  it('every issuance is a token.issued record in the stream, chained, naming sid, agent, sub, act, audience, scope, ttl and grant', async () => {
    const res: Res = await get(sts, auditor, '/admin/audit?type=token.issued&agent=sub-agent');
    expect(res.status).toBe(200);
    const [e] = res.body.events as Record<string, unknown>[];
    expect(res.body.events).toHaveLength(1);
    const c = claims(issued[3]!);
    expect(e).toMatchObject({
      type: 'token.issued', sid: c.sid, parent: claims(issued[0]!).sid, agent: 'sub-agent', sub: 'billing-agent',
      act: { sub: 'sub-agent' }, aud: API, scope: ['invoices:read'], grant: 'urn:ietf:params:oauth:grant-type:token-exchange', actor: 'sub-agent',
    });
    expect(typeof e!.ttl).toBe('number');
    expect(e!.hash).toBe(linkHash(e!.seq as number, e!.prev as string, sha256Hex((await entries(sts)).map(([, f]) => f[f.indexOf('body') + 1]!).find((b) => b.includes(String(c.sid)))!)));
    const raw = JSON.stringify(await entries(sts));
    for (const t of [...issued, admin, auditor]) expect(raw).not.toContain(t);
    expect(raw).not.toMatch(/secret/i);
  });

  it('lists newest first with a cursor; filters by sid across kills; bad filters are 400 naming the parameter', async () => {
    const first: Res = await get(sts, auditor, '/admin/audit?limit=2');
    expect(first.status).toBe(200);
    const seqs = (first.body.events as { seq: number }[]).map((e) => e.seq);
    expect(seqs[0]).toBeGreaterThan(seqs[1]!);
    const next: Res = await get(sts, auditor, `/admin/audit?limit=2&cursor=${first.body.next as string}`);
    expect((next.body.events as { seq: number }[])[0]!.seq).toBe(seqs[1]! - 1);
    for (const [q, name] of [['since=yesterday', 'since'], ['until=2026-13-01T00:00:00Z', 'until'], ['limit=0', 'limit'], ['type=DROP%20TABLE', 'type'], ['cursor=abc', 'cursor'], ['agent=a&agent=b', 'agent']]) {
      const bad: Res = await get(sts, auditor, `/admin/audit?${q}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error).toBe('invalid_request');
      expect(bad.body.error_description).toContain(`'${name}'`);
    }
    const future: Res = await get(sts, auditor, `/admin/audit?since=${new Date(Date.now() + 3_600_000).toISOString()}`);
    expect(future.body).toEqual({ events: [], next: null });
  });

  it('needs audit:read: a sessions admin token is 403, none is 401', async () => {
    expect((await get(sts, admin, '/admin/audit')).status).toBe(403);
    expect((await request(sts.app).get('/admin/audit/verify')).status).toBe(401);
  });

  it('a kill is recorded before it runs and after, with its admin session id, and signs a checkpoint', async () => {
    const sid = String(claims(issued[0]!).sid);
    const before = await sts.deps.audit!.trail.head();
    const kill: Res = await request(sts.app).delete(`/admin/sessions/${sid}`).set('Authorization', `Bearer ${admin}`);
    expect(kill.body).toEqual({ revoked: 2 });
    const res: Res = await get(sts, auditor, `/admin/audit?sid=${sid}&type=session.revoked`);
    expect(res.body.events).toHaveLength(1);
    expect(res.body.events[0]).toMatchObject({ type: 'session.revoked', sid, revoked: 2, adminSid: claims(admin).sid, by: 'admin', seq: before.seq + 2 });
    const requested: Res = await get(sts, auditor, `/admin/audit?sid=${sid}&type=revocation.requested`);
    expect(requested.body.events).toEqual([expect.objectContaining({ of: 'session', sid, adminSid: claims(admin).sid, by: 'admin', seq: before.seq + 1, requestId: res.body.events[0].requestId })]);
    const cp: Res = await get(sts, auditor, '/admin/audit/checkpoint');
    expect(cp.body).toMatchObject({ seq: before.seq + 2, hash: res.body.events[0].hash });
  });

  it('the checkpoint is a JWS anyone can verify with /jwks', async () => {
    const cp: Res = await get(sts, auditor, '/admin/audit/checkpoint');
    const jwks = (await request(sts.app).get('/jwks')).body;
    const { payload, protectedHeader } = await compactVerify(cp.body.checkpoint as string, createLocalJWKSet(jwks));
    expect(protectedHeader.typ).toBe(CHECKPOINT_TYP);
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ iss: sts.deps.issuer, seq: cp.body.seq, hash: cp.body.hash, time: cp.body.time });
  });

  it('an untouched trail verifies', async () => {
    const head = await sts.deps.audit!.trail.head();
    const res: Res = await get(sts, auditor, '/admin/audit/verify');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, checked: head.seq, head, brokenAt: null, from: { seq: 1, prev: GENESIS_HASH } });
  });

  it('a forged or foreign checkpoint is 400 naming it', async () => {
    const cp: Res = await get(sts, auditor, '/admin/audit/checkpoint');
    const [h, p] = (cp.body.checkpoint as string).split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...cp.body, checkpoint: undefined, seq: 1 })).toString('base64url')}.${(cp.body.checkpoint as string).split('.')[2]}`;
    for (const c of [forged, `${h}.${p}.AAAA`, 'x']) {
      const res: Res = await get(sts, auditor, `/admin/audit/verify?checkpoint=${c}`);
      expect(res.status).toBe(400);
      expect(res.body.error_description).toContain("'checkpoint'");
    }
  });
});

describe('audit trail: tampering is reported by verify (real Redis)', () => {
  let sts: TestSts;
  let auditor: string;

  const verify = async (checkpoint?: string) => (await get(sts, auditor, `/admin/audit/verify${checkpoint ? `?checkpoint=${checkpoint}` : ''}`)).body as {
    ok: boolean; brokenAt: number | null; head: { seq: number }; checkpoint?: { status: string };
  };

  beforeAll(async () => {
    sts = await startSts();
    auditor = await auditorToken(sts);
  });
  afterAll(async () => {
    await sts.close();
  });

  /** A fresh trail of 10 records (the stream and head rewritten from scratch) and a checkpoint of it. */
  async function freshTrail(): Promise<string> {
    await sts.redis!.del(sts.keys!.auditStream(), sts.keys!.auditHead(), sts.keys!.auditCheckpoint());
    for (let i = 0; i < 10; i++) await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect((await sts.deps.audit!.trail.head()).seq).toBe(10);
    expect(await verify()).toMatchObject({ ok: true, brokenAt: null });
    return (await get(sts, auditor, '/admin/audit/checkpoint')).body.checkpoint as string;
  }

  it('one field of a middle record changed (the stream rewritten with it altered): broken at that record; a later checkpoint is unchecked, not missing', async () => {
    await freshTrail();
    const checkpoint = (await get(sts, auditor, '/admin/audit/checkpoint')).body.checkpoint as string;
    await rewrite(sts, (f, i) => (i === 4 ? { ...f, body: f.body!.replace('invoices:read', 'invoices:write') } : f));
    expect(await verify()).toMatchObject({ ok: false, brokenAt: 5 });
    // The checkpoint (seq 10) is still in the trail: the walk stopped at 5 and never reached it, which is not "missing".
    expect(await verify(checkpoint)).toMatchObject({ ok: false, brokenAt: 5, checkpoint: { seq: 10, status: 'unchecked' } });
  });

  it('one record deleted: broken where it was', async () => {
    await freshTrail();
    const [id] = (await entries(sts))[6]!;
    await sts.redis!.xdel(sts.keys!.auditStream(), id);
    expect(await verify()).toMatchObject({ ok: false, brokenAt: 7 });
  });

  it('the tail truncated (head moved back too): verify alone cannot tell, an older checkpoint can', async () => {
    const checkpoint = await freshTrail();
    const all = await entries(sts);
    await sts.redis!.xdel(sts.keys!.auditStream(), ...all.slice(7).map(([id]) => id));
    const [, f] = all[6]!;
    await sts.redis!.hset(sts.keys!.auditHead(), 'seq', '7', 'hash', f[f.indexOf('hash') + 1]!);
    expect(await verify()).toMatchObject({ ok: true, brokenAt: null, head: { seq: 7 } });
    expect(await verify(checkpoint)).toMatchObject({ ok: false, brokenAt: 8, checkpoint: { status: 'missing' } });
  });

  it('the whole history re-chained with fresh hashes around an edit: verify alone passes, an older checkpoint catches it', async () => {
    const checkpoint = await freshTrail();
    let prev = GENESIS_HASH;
    let seq = 0;
    let last = '';
    await rewrite(sts, (f, i) => {
      const body = i === 2 ? f.body!.replace('invoices:read', 'invoices:write') : f.body!;
      seq += 1;
      const hash = linkHash(seq, prev, sha256Hex(body));
      const out = { seq: String(seq), prev, hash, body };
      prev = hash;
      last = hash;
      return out;
    });
    await sts.redis!.hset(sts.keys!.auditHead(), 'seq', String(seq), 'hash', last);
    expect(await verify()).toMatchObject({ ok: true, brokenAt: null });
    expect(await verify(checkpoint)).toMatchObject({ ok: false, brokenAt: 10, checkpoint: { status: 'mismatch' } });
  });

  it('an untouched trail verifies against its checkpoint', async () => {
    const checkpoint = await freshTrail();
    expect(await verify(checkpoint)).toMatchObject({ ok: true, brokenAt: null, checkpoint: { status: 'matched' } });
  });
});

describe('audit trail: fail closed', () => {
  let sts: TestSts;
  beforeAll(async () => {
    sts = await startSts();
  });
  afterAll(async () => {
    await sts.close();
  });

  it('no token leaves when its record cannot be written (503), and no session is stored; a kill answers 503 and kills nothing', async () => {
    const admin = await adminToken(sts);
    const victim = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const sessionsBefore = (await sts.redis!.keys(`${sts.prefix}{*}:s:*`)).length;
    await sts.redis!.del(sts.keys!.auditStream());
    await sts.redis!.set(sts.keys!.auditStream(), 'not a stream');
    const res: Res = await request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.body.access_token).toBeUndefined();
    expect((await sts.redis!.keys(`${sts.prefix}{*}:s:*`)).length).toBe(sessionsBefore);
    const kill: Res = await request(sts.app).delete(`/admin/sessions/${String(claims(victim).sid)}`).set('Authorization', `Bearer ${admin}`);
    expect(kill.status).toBe(503);
    expect(kill.headers['retry-after']).toBeDefined();
    expect(await sts.redis!.exists(sts.keys!.session(String(claims(victim).sid)))).toBe(1);
  });
});

describe('audit trail: the memory store', () => {
  it('records and verifies as the Redis one does', async () => {
    const sts = await startSts({ store: 'memory' });
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    const auditor = await auditorToken(sts);
    const res: Res = await get(sts, auditor, '/admin/audit/verify');
    expect(res.body).toMatchObject({ ok: true, checked: 2, head: { seq: 2 }, brokenAt: null });
    await sts.close();
  });

  it('with STS_AUDIT_TRAIL=off there is no trail and no audit endpoint', async () => {
    const sts = await startSts({ audit: false });
    await clientCredentials(sts, 'billing-agent', API, 'invoices:read');
    expect(await sts.redis!.exists(sts.keys!.auditStream())).toBe(0);
    expect((await request(sts.app).get('/admin/audit')).status).toBe(404);
    await sts.close();
  });
});

describe('audit trail: Redis Cluster (the record appended after the create, in the trail\'s own slot)', () => {
  let cluster: RedisCluster;
  let sts: TestSts;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    sts = await startSts({ redisUrl: cluster.url });
  }, 60_000);
  afterAll(async () => {
    await sts.close();
    await cluster.stop();
  });

  it('every issuance and kill is recorded before the answer, and the trail verifies', async () => {
    const tokens = [];
    for (let i = 0; i < 5; i++) tokens.push((await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token);
    const admin = await adminToken(sts);
    const kill = await request(sts.app).delete(`/admin/sessions/${String(claims(tokens[0]!).sid)}`).set('Authorization', `Bearer ${admin}`);
    expect(kill.body).toEqual({ revoked: 1 });
    const auditor = await auditorToken(sts);
    const list: Res = await get(sts, auditor, '/admin/audit?limit=1000');
    expect((list.body.events as { type: string }[]).map((e) => e.type)).toEqual(['token.issued', 'session.revoked', 'revocation.requested', 'token.issued', ...Array(5).fill('token.issued')]);
    expect((await get(sts, auditor, '/admin/audit/verify')).body).toMatchObject({ ok: true, checked: 9, head: { seq: 9 }, brokenAt: null });
  });
});
