import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MAX_TOKEN_LENGTH } from 'agent-sts-gate/protocol';
import { attackerKey, signWithHeader, type AttackerKey } from '../helpers/attack.js';
import { API, claims, exchange, introspect, ISSUER, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { expectRefused } from '../helpers/responses.js';

/**
 * Findings of the 2026-12 outside review that live at the protocol boundary: time claims that are
 * not whole seconds, user-token claims of the wrong type, tokens too long to be read back, client
 * assertion jti types and replay-key collisions, and the work done for an unknown private_key_jwt
 * client. Each case failed before its fix.
 */

const UPSTREAM = 'https://idp.review.test';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** An audience no resource server offers: an agent may hold any scope there (no cross-check). */
const WIDE = 'https://wide.example.com';
/** Long, valid scope tokens: enough of them make a token longer than the service reads back. */
const LONG_SCOPES = Array.from({ length: 40 }, (_, i) => `scope-${String(i).padStart(2, '0')}-${'x'.repeat(110)}`);

describe('outside review: protocol boundary', () => {
  let sts: TestSts;
  let agentKey: AttackerKey;
  let idpKey: AttackerKey;

  beforeAll(async () => {
    agentKey = await attackerKey('review-agent-key');
    idpKey = await attackerKey('review-idp-key');
    const jwtAgent = (id: string) => ({ id, jwks: { keys: [agentKey.publicJwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60 });
    const base = testRegistry();
    sts = await startSts({
      registry: testRegistry({
        agents: [
          jwtAgent('pkj'),
          jwtAgent('pkj:x'),
          { id: 'wide-agent', secretHash: base.agents!.find((a) => a.id === 'outsider-agent')!.secretHash, audiences: { [WIDE]: LONG_SCOPES } },
        ],
        trustedIssuers: [{ issuer: UPSTREAM, jwks: idpKey.jwks, audience: ISSUER, agents: ['billing-agent'] }],
      }),
    });
  });
  afterAll(async () => {
    await sts.close();
  });

  const nowS = () => Math.floor(Date.now() / 1000);

  /** A trusted issuer's RFC 9068 user token with any claims on top of valid ones. */
  function userToken(over: Record<string, unknown> = {}) {
    const c = { iss: UPSTREAM, sub: 'alice', aud: ISSUER, scope: 'invoices:read', jti: randomUUID(), iat: nowS(), exp: nowS() + 300, ...over };
    return signWithHeader({ alg: 'ES256', typ: 'at+jwt', kid: idpKey.publicJwk.kid }, c, idpKey.privateKey);
  }
  const obo = (token: string) => exchange(sts, 'billing-agent', token, API, 'invoices:read');

  /**
   * Every key of this app's prefix has an expiry: nothing lives forever. The audit trail is the
   * exception by design: it outlives the sessions it records, bounded by its retention (length and
   * age: see test/contract/audit-log.contract.ts).
   */
  async function expectEveryKeyExpires(): Promise<void> {
    const keys = (await sts.redis!.keys(`${sts.prefix}*`)).filter((k) => !k.startsWith(`${sts.prefix}{audit}:`));
    expect(keys.length).toBeGreaterThan(0);
    const ttls = await Promise.all(keys.map((k) => sts.redis!.pttl(k)));
    expect(keys.filter((_, i) => !(ttls[i]! > 0))).toEqual([]);
  }

  describe('a user token whose exp is not a whole second (RFC 7519 §2 allows it)', () => {
    it('is exchanged: integer exp and expires_in, and every Redis key written has an expiry', async () => {
      const exp = nowS() + 200.123456;
      for (let i = 0; i < 3; i++) {
        const res = await obo(await userToken({ exp }));
        expect(res.status).toBe(200);
        expect(Number.isInteger(res.body.expires_in)).toBe(true);
        expect(res.body.expires_in).toBeLessThanOrEqual(200);
        expect(claims(res.body.access_token).exp).toBe(Math.floor(exp));
        expect((await introspect(sts, res.body.access_token)).body).toMatchObject({ active: true, exp: Math.floor(exp) });
      }
      await expectEveryKeyExpires();
    });
  });

  describe('a user token whose sub is not a non-empty string (RFC 7519 §4.1.2) → 400 invalid_grant, nothing written', () => {
    const cases: [string, unknown][] = [
      ['a number', 123],
      ['an array', ['alice']],
      ['an object', { id: 'alice' }],
      ['null', null],
      ['a boolean', true],
      ['empty', ''],
      ['longer than 255 characters', 'a'.repeat(256)],
    ];
    it.each(cases)('sub is %s', async (_name, sub) => {
      const token = await userToken({ sub });
      await expectRefused(sts, () => obo(token), 400, 'invalid_grant');
    });
    it('control: a 255-character sub is exchanged and introspects as the same string', async () => {
      const sub = 'u'.repeat(255);
      const res = await obo(await userToken({ sub }));
      expect(res.status).toBe(200);
      expect((await introspect(sts, res.body.access_token)).body).toMatchObject({ active: true, sub });
    });
  });

  describe('every issued token is one the service reads back', () => {
    const wide = (scope: string) =>
      request(sts.app).post('/token').auth('wide-agent', 'outsider-agent-secret-0123456789abcdef').type('form')
        .send({ grant_type: 'client_credentials', resource: WIDE, scope });

    it(`a token that would exceed ${MAX_TOKEN_LENGTH} characters is refused before it is stored: 400 invalid_request`, async () => {
      const res = await expectRefused(sts, () => wide(LONG_SCOPES.join(' ')), 400, 'invalid_request');
      expect(res.body.error_description).toMatch(/exceed 4096 characters/);
    });
    it('control: fewer of the same scopes give a token within the limit that the service finds again', async () => {
      const res = await wide(LONG_SCOPES.slice(0, 10).join(' '));
      expect(res.status).toBe(200);
      expect(res.body.access_token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
      expect(await sts.deps.sessions.lookupClaims(res.body.access_token)).toMatchObject({ agent: 'wide-agent', aud: WIDE });
    });
  });

  describe('client assertions (private_key_jwt)', () => {
    /** Always names the registered agents' key id; `key` signs (another key makes a forgery). */
    function assertion(agent: string, jti: unknown, key = agentKey) {
      const c = { iss: agent, sub: agent, aud: ISSUER, jti, iat: nowS(), exp: nowS() + 60 };
      return signWithHeader({ alg: 'ES256', kid: agentKey.publicJwk.kid }, c, key.privateKey);
    }
    const withAssertion = (a: string) =>
      request(sts.app).post('/token').type('form')
        .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: a });

    it.each([
      ['a number', 42],
      ['an object', {}],
      ['an array', ['a']],
      ['empty', ''],
    ])('a jti that is %s → 401 invalid_client, nothing written', async (_name, jti) => {
      const a = await assertion('pkj', jti);
      await expectRefused(sts, () => withAssertion(a), 401, 'invalid_client');
    });

    it('replay keys cannot collide across clients: pkj with jti "x:1" and pkj:x with jti "1" both authenticate, each once', async () => {
      const first = await assertion('pkj', 'x:1');
      const second = await assertion('pkj:x', '1');
      expect((await withAssertion(first)).status).toBe(200);
      expect((await withAssertion(second)).status).toBe(200);
      expect((await withAssertion(first)).status).toBe(401);
      expect((await withAssertion(second)).status).toBe(401);
    });

    it('an unknown client, or a known one without a matching key, costs a signature check against a decoy key', async () => {
      const keys = sts.deps.assertionKeys;
      const asked: string[] = [];
      const decoyFor = keys.decoyFor.bind(keys);
      keys.decoyFor = (alg: string) => {
        asked.push(alg);
        return decoyFor(alg);
      };
      try {
        const other = await attackerKey('someone-else');
        expect((await withAssertion(await assertion('pkj', randomUUID(), other))).status).toBe(401); // forged: real key, bad signature
        expect(asked).toEqual([]);
        expect((await withAssertion(await assertion('no-such-agent', randomUUID(), other))).status).toBe(401);
        expect(asked).toEqual(['ES256']);
        expect((await withAssertion(await assertion('billing-agent', randomUUID(), other))).status).toBe(401); // secret-only agent
        expect(asked).toEqual(['ES256', 'ES256']);
      } finally {
        keys.decoyFor = decoyFor;
      }
    });
  });
});
