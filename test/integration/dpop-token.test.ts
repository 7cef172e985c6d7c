import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { exportJWK } from 'jose';
import { DPOP_PROOF_MAX_AGE_SECONDS } from 'agent-sts-gate/protocol';
import { proofReplayKey } from 'agent-sts-gate/dpop';
import { parseRegistry, RegistryError } from '../../src/clients/registry-file.js';
import { hashSecret } from '../../src/clients/secret.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { dpopKey, proof, unsignedProof, type DpopKey } from '../../packages/gate/test/helpers/dpop.js';
import { expectRefused } from '../helpers/responses.js';
import {
  API, AT_TYPE, basic, claims, EXCHANGE, introspect, ISSUER, SECRETS, snapshot, startSts, testRegistry, type TestSts,
} from '../helpers/sts.js';

/**
 * DPoP at the token endpoint (RFC 9449 §5): a proof binds the issued token to its key, on both
 * grants; a bad proof is 400 invalid_dpop_proof with no token and nothing written; `requireDpop`
 * agents get no bearer tokens; exchanges keep the binding.
 */
const TOKEN_URL = `${ISSUER}/token`;
const STRICT = 'strict-agent';
SECRETS[STRICT] = 'strict-agent-secret-0123456789abcdefgh';

let sts: TestSts;
let billingKey: DpopKey;
let subKey: DpopKey;
let otherKey: DpopKey;

beforeAll(async () => {
  [billingKey, subKey, otherKey] = await Promise.all([dpopKey(), dpopKey('EdDSA'), dpopKey()]);
  sts = await startSts({
    registry: testRegistry({
      agents: [{ id: STRICT, secretHash: hashSecret(SECRETS[STRICT]!), audiences: { [API]: ['invoices:read'] }, requireDpop: true }],
    }),
  });
});
afterAll(async () => {
  await sts?.close();
});

const tokenProof = (key: DpopKey, o: Parameters<typeof proof>[1] = {}) => proof(key, { htm: 'POST', htu: TOKEN_URL, ...o });

function cc(agent: string, dpop?: string | string[]) {
  const r = request(sts.app).post('/token').set('Authorization', basic(agent)).type('form');
  if (dpop !== undefined) r.set('DPoP', dpop as string);
  return r.send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
}

function exchangeWith(agent: string, subject: string, dpop?: string, extra: Record<string, string> = {}) {
  const r = request(sts.app).post('/token').set('Authorization', basic(agent)).type('form');
  if (dpop !== undefined) r.set('DPoP', dpop);
  return r.send({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read', ...extra });
}

async function boundToken(agent: string, key: DpopKey): Promise<string> {
  const res = await cc(agent, await tokenProof(key));
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

/** The single-use entry a valid proof leaves, whatever becomes of its request (a proof is used once, RFC 9449 §11.1). */
function usedEntry(p: string, key: DpopKey): Record<string, unknown> {
  const { jti, iat } = claims(p) as { jti: string; iat: number };
  return { [sts.keys!.usedOnce('dpop-proof', proofReplayKey({ jkt: key.jkt, jti, iat }))]: { value: '1', expiresAt: expect.any(Number) } };
}

/** A refusal with no challenge and the store unchanged, but for `leaves` (the entry of a valid proof on a request refused for another reason). */
const refused = (send: () => PromiseLike<request.Response>, status: number, error: string, description?: RegExp, leaves: Record<string, unknown> = {}) =>
  expectRefused(sts, send, status, error, { ...(description ? { description } : {}), challenge: null, leaves });

describe('client credentials with a DPoP proof', () => {
  it('binds the token: token_type DPoP, cnf.jkt in the JWT, in the session record and in introspection', async () => {
    const res = await cc('billing-agent', await tokenProof(billingKey));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'DPoP', scope: 'invoices:read' });
    const token = res.body.access_token as string;
    expect(claims(token).cnf).toEqual({ jkt: billingKey.jkt });
    const sid = claims(token).sid as string;
    expect(await sts.redis!.hget(sts.keys!.session(sid), 'cnf')).toBe(JSON.stringify({ jkt: billingKey.jkt }));
    const intro = await introspect(sts, token);
    expect(intro.body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: billingKey.jkt } });
  });

  it('without a proof: a Bearer token with no cnf anywhere', async () => {
    const res = await cc('billing-agent');
    expect(res.body.token_type).toBe('Bearer');
    expect(claims(res.body.access_token).cnf).toBeUndefined();
    const intro = await introspect(sts, res.body.access_token);
    expect(intro.body).toMatchObject({ active: true, token_type: 'Bearer' });
    expect(intro.body.cnf).toBeUndefined();
  });

  it('an htu with a query is the same endpoint (query and fragment ignored)', async () => {
    expect((await cc('billing-agent', await tokenProof(billingKey, { htu: `${TOKEN_URL}?x=1#f` }))).status).toBe(200);
  });

  it('metadata lists dpop_signing_alg_values_supported, asymmetric only', async () => {
    const res = await request(sts.app).get('/.well-known/oauth-authorization-server');
    expect(res.body.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA', 'PS256', 'RS256']));
    expect(res.body.dpop_signing_alg_values_supported.some((a: string) => /^HS|^none$/i.test(a))).toBe(false);
  });
});

describe('bad proofs at /token: 400 invalid_dpop_proof, no token, nothing written', () => {
  const cases: [string, () => Promise<string>, RegExp][] = [
    ['not a JWS', async () => 'invalid', /not a JWS/],
    ['htm GET', () => tokenProof(billingKey, { htm: 'GET' }), /htm/],
    ['htu of another endpoint', () => tokenProof(billingKey, { htu: `${ISSUER}/introspect` }), /htu/],
    ['htu of another host', () => tokenProof(billingKey, { htu: 'http://evil.test/token' }), /htu/],
    ['typ JWT', () => tokenProof(billingKey, { header: { typ: 'JWT' } }), /typ/],
    ['alg none', async () => unsignedProof({ alg: 'none', typ: 'dpop+jwt', jwk: billingKey.jwk }), /asymmetric/],
    ['a private jwk', async () => tokenProof(billingKey, { header: { jwk: await exportJWK(billingKey.privateKey) } }), /public/],
    ['another key in jwk than the signer', () => tokenProof(billingKey, { header: { jwk: otherKey.jwk } }), /signature/],
    ['iat too old', () => tokenProof(billingKey, { iat: Math.floor(Date.now() / 1000) - DPOP_PROOF_MAX_AGE_SECONDS - 5 }), /too old/],
    ['iat in the future', () => tokenProof(billingKey, { iat: Math.floor(Date.now() / 1000) + 300 }), /future/],
    ['no jti', () => tokenProof(billingKey, { claims: { jti: undefined } }), /jti/],
    ['a nonce this server never issued', () => tokenProof(billingKey, { claims: { nonce: 'n' } }), /nonce/],
  ];
  it.each(cases)('%s', async (_, make, description) => {
    const p = await make();
    await refused(() => cc('billing-agent', p), 400, 'invalid_dpop_proof', description);
  });

  it('two DPoP headers', async () => {
    const [a, b] = await Promise.all([tokenProof(billingKey), tokenProof(billingKey)]);
    await refused(() => cc('billing-agent', [a, b]), 400, 'invalid_dpop_proof', /exactly one/);
  });

  it('a replayed proof: the first use succeeds and stores its id, the second is refused and writes nothing', async () => {
    const p = await tokenProof(billingKey);
    const [usedKey] = Object.keys(usedEntry(p, billingKey));
    expect(await snapshot(sts)).not.toHaveProperty([usedKey!]);
    expect((await cc('billing-agent', p)).status).toBe(200);
    expect(await snapshot(sts)).toMatchObject(usedEntry(p, billingKey));
    await refused(() => cc('billing-agent', p), 400, 'invalid_dpop_proof', /already used/);
  });

  it('the proof is checked after client authentication: a failed one does not use it up', async () => {
    const p = await tokenProof(billingKey);
    await expectRefused(sts, () => request(sts.app).post('/token').set('Authorization', basic('billing-agent', 'wrong-secret-0123456789abcdefghijkl'))
      .set('DPoP', p).type('form').send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' }), 401, 'invalid_client');
    expect((await cc('billing-agent', p)).status).toBe(200);
  });
});

describe('requireDpop', () => {
  it('an agent with requireDpop gets no bearer token (400 invalid_dpop_proof), and a bound one with a proof', async () => {
    await refused(() => cc(STRICT), 400, 'invalid_dpop_proof', /must send a DPoP proof/);
    const res = await cc(STRICT, await tokenProof(billingKey));
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
  });

  it('the registry flag is a boolean, false by default', async () => {
    const doc = testRegistry();
    await expect(parseRegistry({ ...doc, agents: [{ ...doc.agents![0]!, requireDpop: 'yes' }] })).rejects.toThrow(RegistryError);
    expect((await (await parseRegistry(doc)).agent('billing-agent'))?.requireDpop).toBe(false);
  });
});

describe('token exchange', () => {
  it("a delegate exchanges a DPoP-bound parent with its own proof: the child is bound to the delegate's key", async () => {
    const parent = await boundToken('billing-agent', billingKey);
    const res = await exchangeWith('sub-agent', parent, await tokenProof(subKey));
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(claims(res.body.access_token).cnf).toEqual({ jkt: subKey.jkt });
    expect((await introspect(sts, res.body.access_token)).body).toMatchObject({ active: true, client_id: 'sub-agent', cnf: { jkt: subKey.jkt } });
  });

  it('a DPoP-bound parent cannot become a bearer child: an exchange without a proof is refused', async () => {
    const parent = await boundToken('billing-agent', billingKey);
    await refused(() => exchangeWith('sub-agent', parent), 400, 'invalid_dpop_proof', /subject token is DPoP-bound/);
  });

  it("the subject's own holder must prove the subject's key", async () => {
    const parent = await boundToken('billing-agent', billingKey);
    await refused(() => exchangeWith('billing-agent', parent, undefined), 400, 'invalid_dpop_proof');
    const wrongKey = await tokenProof(otherKey);
    await refused(() => exchangeWith('billing-agent', parent, wrongKey), 400, 'invalid_grant', /subject token is bound to/, usedEntry(wrongKey, otherKey));
    const res = await exchangeWith('billing-agent', parent, await tokenProof(billingKey));
    expect(res.status).toBe(200);
    expect(claims(res.body.access_token).cnf).toEqual({ jkt: billingKey.jkt });
  });

  it('a bearer parent exchanged with a proof gives a bound child', async () => {
    const parent = (await cc('billing-agent')).body.access_token as string;
    const res = await exchangeWith('sub-agent', parent, await tokenProof(subKey));
    expect(res.body.token_type).toBe('DPoP');
    expect(claims(res.body.access_token).cnf).toEqual({ jkt: subKey.jkt });
  });

  it('a DPoP-bound actor_token needs the proof to be by its key', async () => {
    const parent = (await cc('billing-agent')).body.access_token as string;
    const actor = await boundToken('sub-agent', subKey);
    const actorParams = { actor_token: actor, actor_token_type: AT_TYPE };
    const wrongKey = await tokenProof(otherKey);
    await refused(() => exchangeWith('sub-agent', parent, wrongKey, actorParams), 400, 'invalid_grant', /actor_token is bound to/, usedEntry(wrongKey, otherKey));
    expect((await exchangeWith('sub-agent', parent, await tokenProof(subKey), actorParams)).status).toBe(200);
  });

  it('a bad proof on an exchange is 400 invalid_dpop_proof', async () => {
    const parent = (await cc('billing-agent')).body.access_token as string;
    const p = await tokenProof(subKey, { htm: 'PUT' });
    await refused(() => exchangeWith('sub-agent', parent, p), 400, 'invalid_dpop_proof', /htm/);
  });
});

describe('the replay set fails closed', () => {
  it('a store that cannot record the proof: 503 temporarily_unavailable, no token; bearer issuance unaffected', async () => {
    const broken = await startSts({
      wrapStore: (real) => new Proxy(real, {
        get(target, prop) {
          if (prop === 'useOnce') return () => Promise.reject(new StoreUnavailableError(new Error('injected')));
          const v: unknown = Reflect.get(target, prop);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    });
    try {
      const send = (dpop?: string) => {
        const r = request(broken.app).post('/token').set('Authorization', basic('billing-agent')).type('form');
        if (dpop) r.set('DPoP', dpop);
        return r.send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
      };
      const res = await send(await tokenProof(billingKey));
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('temporarily_unavailable');
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body.access_token).toBeUndefined();
      expect((await send()).status).toBe(200);
    } finally {
      await broken.close();
    }
  });
});
