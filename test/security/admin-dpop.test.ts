import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { DPOP_PROOF_MAX_AGE_SECONDS, DPOP_SIGNING_ALGORITHMS } from 'agent-sts-gate/protocol';
import { proofReplayKey } from 'agent-sts-gate/dpop';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { dpopKey, proof, type DpopKey, type ProofOptions } from '../../packages/gate/test/helpers/dpop.js';
import { expectActive } from '../helpers/liveness.js';
import { expectRefused, sidOf } from '../helpers/responses.js';
import { ADMIN_AUD, adminToken, API, basic, claims, clientCredentials, ISSUER, snapshot, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * Issue 20, finding 2: the admin API is a resource server of agent-sts's own tokens, so a
 * DPoP-bound admin token (an agent with `requireDpop`) passes only with the DPoP scheme and a fresh,
 * unused proof by its key for exactly this method and URL (RFC 9449 §7). Each refusal asserts the
 * status, the challenge and that nothing changed: no kill happened, Redis is as it was (a proof's
 * single-use entry is written only once every other check has passed).
 */
const STRICT_ADMIN = 'strict-admin';
const STRICT_SECRET = 'strict-admin-secret-0123456789abcdefghij';
/** The service clock, fixed: Redis expires keys on its own clock, so it starts at the real time and stands still. */
const T0 = Date.now();
const READS = ['/admin/sessions', '/admin/audit', '/admin/agents', '/admin/access-review', '/admin/resource-servers'];
const DPOP_CHALLENGE = new RegExp(`^DPoP realm="agent-sts", error="(invalid_token|invalid_dpop_proof)", error_description="[^"]+", algs="${DPOP_SIGNING_ALGORITHMS.join(' ')}"$`);

let sts: TestSts;
let key: DpopKey;
let otherKey: DpopKey;
let bound: string;

const iat = () => Math.floor(T0 / 1000);
/** A proof by `k` for `method` and `path` on the issuer's URL, with `ath` of `token` (default: the bound admin token). */
const proofFor = (method: string, path: string, o: ProofOptions & { key?: DpopKey } = {}) =>
  proof(o.key ?? key, { htm: method, htu: `${ISSUER}${path}`, token: bound, iat: iat(), ...o });

function call(method: 'GET' | 'DELETE', path: string, authorization: string, dpop?: string | string[]) {
  const r = method === 'GET' ? request(sts.app).get(path) : request(sts.app).delete(path);
  r.set('Authorization', authorization);
  if (dpop !== undefined) r.set('DPoP', dpop as string);
  return r;
}

/** A 401/400 with a DPoP challenge and the store unchanged. */
const refused = (send: () => PromiseLike<request.Response>, status: number, error: string, description: RegExp) =>
  expectRefused(sts, send, status, error, { description, challenge: DPOP_CHALLENGE, events: 'none' });

beforeAll(async () => {
  [key, otherKey] = await Promise.all([dpopKey(), dpopKey()]);
  sts = await startSts({
    live: true,
    clock: { nowMs: () => T0 },
    registry: testRegistry({ agents: [{ id: STRICT_ADMIN, secretHash: hashSecret(STRICT_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] }, requireDpop: true }] }),
  });
  const res = await request(sts.app).post('/token').set('Authorization', basic(STRICT_ADMIN, STRICT_SECRET)).type('form')
    .set('DPoP', await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: iat() }))
    .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
  expect({ status: res.status, type: res.body.token_type }).toEqual({ status: 200, type: 'DPoP' });
  bound = res.body.access_token as string;
});
afterAll(async () => {
  await sts?.close();
});

describe('a DPoP-bound admin token (requireDpop admin) at the admin API', () => {
  it.each(READS)('GET %s as Bearer without a proof → 401 invalid_token with a DPoP challenge (RFC 9449 §7.2)', async (path) => {
    await refused(() => call('GET', path, `Bearer ${bound}`), 401, 'invalid_token', /DPoP-bound/);
  });

  it.each(READS)('GET %s with the DPoP scheme and a correct proof → 200', async (path) => {
    const res = await call('GET', path, `DPoP ${bound}`, await proofFor('GET', path));
    expect(res.status).toBe(200);
  });

  it('as Bearer even with a valid proof beside it (a downgrade) → 401 invalid_token', async () => {
    await refused(async () => call('GET', '/admin/sessions', `Bearer ${bound}`, await proofFor('GET', '/admin/sessions')), 401, 'invalid_token', /DPoP-bound/);
  });

  it.each<[string, () => Promise<string | undefined>, RegExp]>([
    ['no proof', async () => undefined, /needs a DPoP proof/],
    ['a proof for another URL', () => proofFor('GET', '/admin/agents'), /htu/],
    ['a proof for the URL on the Host the request came to, not the issuer', () => proof(key, { htm: 'GET', htu: 'http://127.0.0.1/admin/sessions', token: bound, iat: iat() }), /htu/],
    ['a proof for another method', () => proofFor('POST', '/admin/sessions'), /htm/],
    ['a proof by another key', () => proofFor('GET', '/admin/sessions', { key: otherKey }), /not the key the token is bound to/],
    ['a proof for another token (ath)', () => proofFor('GET', '/admin/sessions', { token: 'another-token' }), /ath/],
    ['a proof without ath', () => proofFor('GET', '/admin/sessions', { claims: { ath: undefined } }), /ath/],
    ['a proof older than the window', () => proofFor('GET', '/admin/sessions', { iat: iat() - DPOP_PROOF_MAX_AGE_SECONDS - 1 }), /too old/],
    ['a proof with a server nonce we never issued', () => proofFor('GET', '/admin/sessions', { claims: { nonce: 'n' } }), /nonce/],
  ])('DPoP scheme with %s → 401 with a DPoP challenge, nothing written', async (_what, make, description) => {
    const p = await make();
    const error = /not the key/.test(description.source) ? 'invalid_token' : 'invalid_dpop_proof';
    await refused(() => call('GET', '/admin/sessions', `DPoP ${bound}`, p), 401, error, description);
  });

  it('two DPoP headers → 400 invalid_dpop_proof', async () => {
    const p = await proofFor('GET', '/admin/sessions');
    await refused(() => call('GET', '/admin/sessions', `DPoP ${bound}`, [p, p]), 400, 'invalid_dpop_proof', /exactly one/);
  });

  it('a replayed proof → 401 invalid_dpop_proof, here and at a second instance sharing the Redis', async () => {
    const p = await proofFor('GET', '/admin/sessions');
    const { jti, iat: proofIat } = claims(p) as { jti: string; iat: number };
    const usedKey = sts.keys!.usedOnce('dpop-proof', proofReplayKey({ jkt: key.jkt, jti, iat: proofIat }));
    expect(await snapshot(sts)).not.toHaveProperty([usedKey]);
    expect((await call('GET', '/admin/sessions', `DPoP ${bound}`, p)).status).toBe(200);
    expect(await snapshot(sts)).toMatchObject({ [usedKey]: { value: '1', expiresAt: expect.any(Number) } });
    await refused(() => call('GET', '/admin/sessions', `DPoP ${bound}`, p), 401, 'invalid_dpop_proof', /already used/);
    const second = await startSts({ live: true, prefix: sts.prefix, clock: { nowMs: () => T0 }, registry: testRegistry({ agents: [{ id: STRICT_ADMIN, secretHash: hashSecret(STRICT_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] }, requireDpop: true }] }) });
    try {
      const res = await expectRefused(second, () => request(second.app).get('/admin/sessions').set('Authorization', `DPoP ${bound}`).set('DPoP', p), 401, 'invalid_dpop_proof', { challenge: DPOP_CHALLENGE, events: 'none' });
      expect(res.body.error_description).toBe('the DPoP proof was already used');
      const fresh = await request(second.app).get('/admin/sessions').set('Authorization', `DPoP ${bound}`).set('DPoP', await proofFor('GET', '/admin/sessions'));
      expect(fresh.status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('a kill: as Bearer, or with a proof made for reading the session, nothing is killed; with its own proof it is', async () => {
    const victim = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const path = `/admin/sessions/${sidOf(victim)}`;
    await refused(() => call('DELETE', path, `Bearer ${bound}`), 401, 'invalid_token', /DPoP-bound/);
    await refused(async () => call('DELETE', path, `Bearer ${bound}`, await proofFor('DELETE', path)), 401, 'invalid_token', /DPoP-bound/);
    const forRead = await proofFor('GET', path);
    const wrongProof = await call('DELETE', path, `DPoP ${bound}`, forRead);
    expect({ status: wrongProof.status, error: wrongProof.body.error }).toEqual({ status: 401, error: 'invalid_dpop_proof' });
    await expectActive(sts, victim);

    const killed = await call('DELETE', path, `DPoP ${bound}`, await proofFor('DELETE', path));
    expect({ status: killed.status, body: killed.body }).toEqual({ status: 200, body: { revoked: 1 } });
    expect((await request(sts.app).post('/introspect').set('Authorization', basic(API)).type('form').send({ token: victim })).body).toEqual({ active: false });
  });

  it('a proof checks authentication before the scope: a bound token without the scope, with a good proof → 403 in the DPoP scheme', async () => {
    const res = await request(sts.app).post('/token').set('Authorization', basic(STRICT_ADMIN, STRICT_SECRET)).type('form')
      .set('DPoP', await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: iat() }))
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'audit:read' });
    const auditor = res.body.access_token as string;
    const noProof = await call('GET', '/admin/sessions', `DPoP ${auditor}`);
    expect({ status: noProof.status, error: noProof.body.error }).toEqual({ status: 401, error: 'invalid_dpop_proof' });
    const denied = await call('GET', '/admin/sessions', `DPoP ${auditor}`, await proofFor('GET', '/admin/sessions', { token: auditor }));
    expect({ status: denied.status, error: denied.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
    expect(denied.headers['www-authenticate']).toMatch(/^DPoP realm="agent-sts", error="insufficient_scope"/);
  });
});

describe('an unbound admin token', () => {
  it('keeps working as Bearer, a DPoP header beside it ignored (RFC 6750 applies)', async () => {
    const token = await adminToken(sts);
    expect((await call('GET', '/admin/sessions', `Bearer ${token}`)).status).toBe(200);
    expect((await call('GET', '/admin/sessions', `Bearer ${token}`, 'not-a-proof')).status).toBe(200);
  });

  it('with the DPoP scheme → 401 invalid_token: the scheme claims a binding the token does not have (RFC 9449 §7.1)', async () => {
    const token = await adminToken(sts);
    await refused(async () => call('GET', '/admin/sessions', `DPoP ${token}`, await proofFor('GET', '/admin/sessions', { token })), 401, 'invalid_token', /not DPoP-bound/);
  });

  it('an unknown token with the DPoP scheme → 401 invalid_token in the DPoP scheme', async () => {
    await refused(() => call('GET', '/admin/sessions', 'DPoP not.a.token'), 401, 'invalid_token', /active admin token/);
  });
});

describe('under an issuer with a path', () => {
  it('the proof names the issuer path: the admin URL is the issuer\'s, not the Host\'s', async () => {
    const issuer = 'http://sts.test/tenant';
    const tenant = await startSts({ issuer, clock: { nowMs: () => T0 }, registry: testRegistry({ agents: [{ id: STRICT_ADMIN, secretHash: hashSecret(STRICT_SECRET), audiences: { [ADMIN_AUD]: ['sessions:read'] }, requireDpop: true }] }) });
    try {
      const tok = await request(tenant.app).post('/tenant/token').set('Authorization', basic(STRICT_ADMIN, STRICT_SECRET)).type('form')
        .set('DPoP', await proof(key, { htm: 'POST', htu: `${issuer}/token`, iat: iat() }))
        .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'sessions:read' });
      const t = tok.body.access_token as string;
      const get = (htu: string) => proof(key, { htm: 'GET', htu, token: t, iat: iat() })
        .then((p) => request(tenant.app).get('/tenant/admin/sessions?limit=5').set('Authorization', `DPoP ${t}`).set('DPoP', p));
      expect((await get(`${ISSUER}/admin/sessions`)).status).toBe(401);
      expect((await get(`${issuer}/admin/sessions`)).status).toBe(200);
    } finally {
      await tenant.close();
    }
  });
});
