import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CompactEncrypt, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { attackerKey, b64url, countingServer, expectInactiveUnchanged, hs256, publicKeyAsSecrets, serverJwk, signWithHeader, unsigned, type AttackerKey, type CountingServer, type Res } from '../helpers/attack.js';
import { expectRefused } from '../helpers/responses.js';
import {
  adminToken, API, AT_TYPE, basic, claims, clientCredentials, exchange, introspect, ISSUER, startSts, testRegistry, type TestSts,
} from '../helpers/sts.js';

/**
 * JWT forgery at every place agent-sts accepts a JWT: the client assertion (private_key_jwt), the
 * subject token (ours, and a trusted issuer's), the actor token, the token a resource server
 * introspects and the admin API's bearer token. Every forgery is refused with that place's exact
 * answer, issues nothing and leaves every Redis key unchanged (content and expiry); key-location headers (jku, x5u,
 * jwk, x5c) are ignored: the attacker's server never receives a request.
 */

const UPSTREAM = 'https://idp.forgery.test';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A self-signed P-256 certificate and its key, made for this test with openssl (attacker material). */
const ATTACKER_CERT_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggW+WZTxHkS5Xcwp4
iMP8e1+Wi7feJygQWVFMT9FYrKahRANCAASMXweOJg2J2rkMrvUYzYoqss9gLpwq
51BfvRJ3JKmcvodfcKxOL042WRj3b36BCS4ymg8Q1GDFl+zRFWrgyThz
-----END PRIVATE KEY-----`;
const ATTACKER_CERT_DER_B64 =
  'MIIBjTCCATOgAwIBAgIUXeTDbrpe/ygVjyhsZj8EqNt+Mw0wCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTAgFw0yNjExMjMxMjQxNTNaGA8y' +
  'MTI2MTAzMDEyNDE1M1owGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIxfB44mDYnauQyu9RjNiiqyz2AunCrnUF+9' +
  'EnckqZy+h19wrE4vTjZZGPdvfoEJLjKaDxDUYMWX7NEVauDJOHOjUzBRMB0GA1UdDgQWBBQA2V1dKUGQ6swYqexyuTlHvRtJwjAfBgNVHSMEGDAWgBQA2V1dKUGQ6swY' +
  'qexyuTlHvRtJwjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCoUQD5qpbd+sp6hctA9NpvKa80kIoxWwI2Hf9orXco/QIgHlv6cvf5CzBby9UROARa' +
  '6WWjYJNOPmvqiPKTowdKckk=';

const nowS = () => Math.floor(Date.now() / 1000);

/** One place a JWT is accepted, described so that every forgery can be aimed at it. */
interface Place {
  name: string;
  /** Claims a genuine token at this place carries (fresh each call: a new jti for assertions). */
  claims(): Record<string, unknown>;
  /** The genuine header minus alg: typ and the real kid. */
  header(): Record<string, unknown>;
  /** The public key the verifier at this place holds (what algorithm confusion abuses). */
  verifierJwk(): JWK;
  /** A genuine token for this place, for segment surgery. */
  genuine(): Promise<string>;
  /** Presents `token` at this place and asserts the refusal (and that nothing changed). */
  refuse(token: string): Promise<Res>;
}

describe('JWT forgery at every place a JWT is accepted', () => {
  let sts: TestSts;
  let attacker: AttackerKey;
  let agentKey: AttackerKey;
  let upstreamKey: AttackerKey;
  let certKey: CryptoKey;
  let evil: CountingServer;
  let upstreamJwks: CountingServer;
  let stsJwk: JWK;
  let apiToken: string;
  let admin: string;
  let subAgentToken: string;

  beforeAll(async () => {
    attacker = await attackerKey('attacker-key');
    agentKey = await attackerKey('jwt-agent-key');
    upstreamKey = await attackerKey('upstream-key');
    certKey = (await importPKCS8(ATTACKER_CERT_KEY, 'ES256')) as CryptoKey;
    evil = await countingServer(attacker.jwks);
    upstreamJwks = await countingServer(upstreamKey.jwks);
    sts = await startSts({
      registry: testRegistry({
        agents: [
          { id: 'jwt-agent', jwks: { keys: [agentKey.publicJwk] }, audiences: { [API]: ['invoices:read'] }, maxTokenTtlSeconds: 60 },
        ],
        trustedIssuers: [{ issuer: UPSTREAM, jwksUri: `${upstreamJwks.url}/jwks`, audience: ISSUER, agents: ['billing-agent'] }],
      }),
    });
    stsJwk = await serverJwk(sts);
    apiToken = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    admin = await adminToken(sts);
    subAgentToken = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts?.close();
    await evil?.close();
    await upstreamJwks?.close();
  });

  const assertionClaims = () => ({ iss: 'jwt-agent', sub: 'jwt-agent', aud: ISSUER, iat: nowS(), exp: nowS() + 60, jti: randomUUID() });
  const upstreamClaims = () => ({ iss: UPSTREAM, sub: 'alice', aud: ISSUER, scope: 'invoices:read', iat: nowS(), exp: nowS() + 300, jti: randomUUID() });
  const withAssertion = (a: string) =>
    request(sts.app).post('/token').type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read', client_assertion_type: JWT_BEARER, client_assertion: a });
  const ourHeader = () => ({ typ: 'at+jwt', kid: stsJwk.kid });
  const adminList = (token: string) => request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${token}`);

  const places: Place[] = [
    {
      name: 'client_assertion',
      claims: assertionClaims,
      header: () => ({ kid: agentKey.publicJwk.kid }),
      verifierJwk: () => agentKey.publicJwk,
      genuine: () => signWithHeader({ alg: 'ES256', kid: agentKey.publicJwk.kid }, assertionClaims(), agentKey.privateKey),
      refuse: (t) => expectRefused(sts, () => withAssertion(t), 401, 'invalid_client'),
    },
    {
      name: 'subject_token (an agent-sts token)',
      claims: () => claims(apiToken),
      header: ourHeader,
      verifierJwk: () => stsJwk,
      genuine: async () => apiToken,
      refuse: (t) => expectRefused(sts, () => exchange(sts, 'billing-agent', t, API, 'invoices:read'), 400, 'invalid_grant'),
    },
    {
      name: "subject_token (a trusted issuer's user token)",
      claims: upstreamClaims,
      header: () => ({ typ: 'at+jwt', kid: upstreamKey.publicJwk.kid }),
      verifierJwk: () => upstreamKey.publicJwk,
      genuine: () => signWithHeader({ alg: 'ES256', typ: 'at+jwt', kid: upstreamKey.publicJwk.kid }, upstreamClaims(), upstreamKey.privateKey),
      refuse: (t) => expectRefused(sts, () => exchange(sts, 'billing-agent', t, API, 'invoices:read'), 400, 'invalid_grant'),
    },
    {
      name: 'actor_token',
      claims: () => claims(subAgentToken),
      header: ourHeader,
      verifierJwk: () => stsJwk,
      genuine: async () => subAgentToken,
      refuse: (t) =>
        expectRefused(sts, () => exchange(sts, 'sub-agent', apiToken, API, 'invoices:read', { actor_token: t, actor_token_type: AT_TYPE }), 400, 'invalid_grant'),
    },
    {
      name: 'introspected token',
      claims: () => claims(apiToken),
      header: ourHeader,
      verifierJwk: () => stsJwk,
      genuine: async () => apiToken,
      refuse: (t) => expectInactiveUnchanged(sts, () => introspect(sts, t)),
    },
    {
      name: 'admin bearer token',
      claims: () => claims(admin),
      header: ourHeader,
      verifierJwk: () => stsJwk,
      genuine: async () => admin,
      refuse: async (t) => {
        const res = await expectRefused(sts, () => adminList(t), 401, 'invalid_token', { events: 'none' });
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="agent-sts", error="invalid_token"/);
        return res;
      },
    },
  ];

  describe('controls: the genuine token is accepted at each place (so every refusal below means something)', () => {
    it('client_assertion', async () => {
      expect((await withAssertion(await places[0]!.genuine())).status).toBe(200);
    });
    it('subject_token (ours), actor_token, introspection, admin bearer', async () => {
      expect((await exchange(sts, 'billing-agent', apiToken, API, 'invoices:read')).status).toBe(200);
      expect((await exchange(sts, 'sub-agent', apiToken, API, 'invoices:read', { actor_token: subAgentToken, actor_token_type: AT_TYPE })).status).toBe(200);
      expect((await introspect(sts, apiToken)).body.active).toBe(true);
      expect((await adminList(admin)).status).toBe(200);
    });
    it("subject_token (a trusted issuer's user token, keys fetched from its jwksUri)", async () => {
      const res = await exchange(sts, 'billing-agent', await places[2]!.genuine(), API, 'invoices:read');
      expect(res.status).toBe(200);
      expect(claims(res.body.access_token as string)).toMatchObject({ sub: 'alice', act: { sub: 'billing-agent' } });
    });
  });

  type Forgery = [string, (p: Place) => Promise<string>];
  const forgeries: Forgery[] = [
    ...['none', 'NONE', 'nOnE', 'None'].map((alg): Forgery => [`alg "${alg}", empty signature`, async (p) => unsigned(alg, p.claims(), p.header())]),
    ['alg "none" with a signature segment left in', async (p) => {
      const g = (await p.genuine()).split('.');
      return `${b64url({ alg: 'none', ...p.header() })}.${g[1]}.${g[2]}`;
    }],
    ...(['the public JWK (JSON)', 'the public key PEM', 'the public key DER'] as const).map((what): Forgery => [
      `HS256 keyed with ${what} the verifier holds (algorithm confusion)`,
      async (p) => {
        const secrets = new Map(await publicKeyAsSecrets(p.verifierJwk()));
        return hs256(p.claims(), secrets.get(what)!, p.header());
      },
    ]),
    ['an unknown kid (signed by the attacker)', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', kid: 'no-such-kid' }, p.claims(), attacker.privateKey)],
    ['a 10 KB kid', async (p) => signWithHeader({ ...p.header(), alg: 'ES256', kid: 'k'.repeat(10_240) }, p.claims(), attacker.privateKey)],
    ['a path-like kid (../../etc/passwd)', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', kid: '../../etc/passwd' }, p.claims(), attacker.privateKey)],
    ['a path-like kid naming a real key file (../keys/<kid>.json)', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', kid: `../keys/${String(p.verifierJwk().kid)}.json` }, p.claims(), attacker.privateKey)],
    ['jku pointing at the attacker’s JWKS', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', kid: attacker.publicJwk.kid, jku: `${evil.url}/jwks.json` }, p.claims(), attacker.privateKey)],
    ['x5u pointing at the attacker’s certificate', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', kid: 'attacker-cert', x5u: `${evil.url}/cert.pem` }, p.claims(), certKey)],
    ['jwk embedding the attacker’s public key', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', kid: attacker.publicJwk.kid, jwk: attacker.publicJwk }, p.claims(), attacker.privateKey)],
    ['x5c carrying the attacker’s self-signed certificate', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', x5c: [ATTACKER_CERT_DER_B64] }, p.claims(), certKey)],
    ['jku + jwk + the verifier’s own kid (the attacker key under a trusted name)', async (p) =>
      signWithHeader({ ...p.header(), alg: 'ES256', jku: `${evil.url}/jwks.json`, jwk: attacker.publicJwk }, p.claims(), attacker.privateKey)],
    ['2 segments (signature dropped)', async (p) => (await p.genuine()).split('.').slice(0, 2).join('.')],
    ['4 segments (an extra segment appended)', async (p) => `${await p.genuine()}.${b64url('extra')}`],
    ['4 segments (an extra segment in the middle)', async (p) => {
      const [h, pl, s] = (await p.genuine()).split('.');
      return `${h}.${pl}.${b64url('{}')}.${s}`;
    }],
    ['non-base64url bytes in the payload segment', async (p) => {
      const [h, pl, s] = (await p.genuine()).split('.');
      return `${h}.${pl!.slice(0, 8)}*%!é${pl!.slice(8)}.${s}`;
    }],
    ['standard base64 (+ / =) instead of base64url', async (p) => {
      const [h, , s] = (await p.genuine()).split('.');
      const std = Buffer.from(JSON.stringify(p.claims())).toString('base64');
      // When the claims happen to encode without + / =, standard base64 is the genuine segment: add padding.
      return `${h}.${/[+/=]/.test(std) ? std : `${std}=`}.${s}`;
    }],
    ['a JWE (5 segments) encrypted to the verifier’s public key, carrying the genuine claims', async (p) => {
      const { kty, crv, x, y } = p.verifierJwk();
      const key = await importJWK({ kty, crv, x, y }, 'ECDH-ES');
      return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(p.claims())))
        .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'JWT', ...p.header() })
        .encrypt(key);
    }],
  ];

  for (const place of places) {
    describe(`at the ${place.name}`, () => {
      it.each(forgeries)('%s → refused, nothing issued or written', async (_name, forge) => {
        await place.refuse(await forge(place));
      });
    });
  }

  it('the forgeries touched nothing real: every genuine token is still active, the admin token still works', async () => {
    expect((await introspect(sts, apiToken)).body.active).toBe(true);
    expect((await introspect(sts, subAgentToken)).body.active).toBe(true);
    expect((await adminList(admin)).status).toBe(200);
  });

  it('jku, x5u, jwk and x5c were ignored: the attacker’s server received no request at all', () => {
    expect(evil.requests()).toBe(0);
  });

  it('a forged assertion does not burn the jti of a genuine one: the same jti, genuinely signed, still authenticates once', async () => {
    const c = assertionClaims();
    await places[0]!.refuse(unsigned('none', c, { kid: agentKey.publicJwk.kid }));
    await places[0]!.refuse(await signWithHeader({ alg: 'ES256', kid: agentKey.publicJwk.kid }, c, attacker.privateKey));
    const genuine = await signWithHeader({ alg: 'ES256', kid: agentKey.publicJwk.kid }, c, agentKey.privateKey);
    expect((await withAssertion(genuine)).status).toBe(200);
    await expectRefused(sts, () => withAssertion(genuine), 401, 'invalid_client');
  });

  it('Basic credentials do not make a forged subject token acceptable either (the agent is real, the token is not)', async () => {
    const forged = unsigned('none', claims(apiToken), ourHeader());
    await expectRefused(
      sts,
      () => request(sts.app).post('/token').set('Authorization', basic('billing-agent')).type('form')
        .send({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: forged, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', resource: API, scope: 'invoices:read' }),
      400, 'invalid_grant',
    );
  });
});
