import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import request from 'supertest';
import { requireToken, revocationFeed, type RevocationFeed } from 'agent-sts-gate/express';
import { SET_TYP } from 'agent-sts-gate/protocol';
import type { StsEvent } from '../../src/audit/events.js';
import { addKey, readKeys } from '../../src/keys/keystore.js';
import { DIST, runNode } from '../helpers/dist.js';
import { sidOf } from '../helpers/responses.js';
import { adminToken, API, basic, clientCredentials, introspect, SECRETS } from '../helpers/sts.js';
import { listeningSts } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

/**
 * RS256 signing keys (RFC 9068 §2.1: the algorithm every authorization server must support; some
 * gateways verify nothing else). An instance whose newest key is RS256 signs access tokens, SETs
 * and audit checkpoints with it, and each is verified by what verifies agent-sts's signatures: a
 * third-party RFC 9068 validator and a gateway taking RS256 only (over /jwks on loopback), the
 * gate in local mode and its revocation feed, the audit verifier, the used-after-revocation check.
 */

const insecure = { [oauth.allowInsecureRequests]: true } as const;
const keysDir = (...algs: Array<'RS256' | 'ES256'>) => algs.reduce(
  async (dir, alg) => {
    const d = await dir;
    await addKey(d, alg);
    return d;
  },
  Promise.resolve(mkdtempSync(path.join(tmpdir(), 'agent-sts-rs256-'))),
);

/** What a gateway that verifies RS256 only does: the issuer's /jwks, fetched over HTTP, and nothing but RS256. */
async function gatewayVerify(issuer: string, token: string) {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  return (await jwtVerify(token, jwks, { issuer, audience: API, typ: 'at+jwt', algorithms: ['RS256'] })).payload;
}

describe('an instance whose newest signing key is RS256', () => {
  let env: Awaited<ReturnType<typeof listeningSts>>;
  let rsaKid: string;
  const feeds: RevocationFeed[] = [];

  beforeAll(async () => {
    const dir = await keysDir('RS256');
    rsaKid = (await readKeys(dir))[0]!.kid;
    env = await listeningSts({ keysDir: dir });
  });
  afterEach(() => {
    for (const f of feeds.splice(0)) f.close();
  });
  afterAll(async () => {
    await env.close();
  });

  it('signs access tokens RS256 with its kid; /jwks publishes it with alg RS256; oauth4webapi (RFC 9068) and an RS256-only gateway accept them', async () => {
    const token = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect(decodeProtectedHeader(token)).toEqual({ typ: 'at+jwt', alg: 'RS256', kid: rsaKid });
    const jwks = (await request(env.sts.app).get('/jwks')).body as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toEqual([{ kty: 'RSA', n: expect.any(String), e: 'AQAB', kid: rsaKid, alg: 'RS256', use: 'sig' }]);

    const issuer = new URL(env.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    const apiRequest = new Request(`${API}/invoices`, { headers: { authorization: `Bearer ${token}` } });
    const validated = await oauth.validateJwtAccessToken(as, apiRequest, API, { signingAlgorithms: ['RS256'], ...insecure });
    expect(validated).toMatchObject({ iss: env.issuer, aud: API, client_id: 'billing-agent', scope: 'invoices:read', sid: sidOf(token) });
    expect(await gatewayVerify(env.issuer, token)).toMatchObject({ client_id: 'billing-agent', sid: sidOf(token) });
  });

  it('the gate in local mode accepts the RS256 token; a kill comes as an RS256 SET the feed applies, and the gate refuses the token', async () => {
    const feed = revocationFeed({ issuer: env.issuer, audience: API, credentials: { clientId: API, clientSecret: SECRETS[API]! } });
    feeds.push(feed);
    const app = express();
    app.get('/invoices', requireToken({ issuer: env.issuer, audience: API, mode: 'local', revocations: feed, scopes: ['invoices:read'] }), (_req, res) => res.json({ ok: true }));
    await feed.ready();
    const token = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token;
    const get = () => request(app).get('/invoices').set('Authorization', `Bearer ${token}`);
    expect((await get()).status).toBe(200);

    const admin = await adminToken(env.sts);
    expect((await request(env.sts.app).delete(`/admin/sessions/${sidOf(token)}`).set('Authorization', `Bearer ${admin}`)).body).toEqual({ revoked: 1 });
    await until(() => feed.isRevoked(sidOf(token)), 'the kill is heard');
    expect(feed.stats()).toMatchObject({ applied: 1, ignored: 0 });
    expect((await get()).body).toMatchObject({ error: 'invalid_token' });

    // the same SET, read on a stream of its own: RS256, by the signing key
    const polled = await request(env.sts.app).post('/ssf/poll').set('Authorization', basic(API)).send({ stream: 'rs256-check', returnImmediately: true });
    const sets = Object.values(polled.body.sets as Record<string, string>);
    expect(sets.length).toBeGreaterThanOrEqual(1);
    for (const set of sets) expect(decodeProtectedHeader(set)).toEqual({ typ: SET_TYP, alg: 'RS256', kid: rsaKid });
  });

  it('audit checkpoints are RS256 and verify (GET /admin/audit/verify?checkpoint=…)', async () => {
    const auditor = (await clientCredentials(env.sts, 'auditor', 'urn:agent-sts:admin', 'audit:read')).access_token;
    const get = (url: string) => request(env.sts.app).get(url).set('Authorization', `Bearer ${auditor}`);
    const cp = await get('/admin/audit/checkpoint');
    expect(decodeProtectedHeader(cp.body.checkpoint as string)).toMatchObject({ alg: 'RS256', kid: rsaKid });
    const verified = await get(`/admin/audit/verify?checkpoint=${String(cp.body.checkpoint)}`);
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ ok: true, checkpoint: { seq: cp.body.seq, status: 'matched' } });
  });

  it('a killed session\'s RS256 token presented at /introspect is reported as used after revocation', async () => {
    const token = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token;
    const admin = await adminToken(env.sts);
    await request(env.sts.app).delete(`/admin/sessions/${sidOf(token)}`).set('Authorization', `Bearer ${admin}`);
    expect((await introspect(env.sts, token)).body).toEqual({ active: false });
    const used = env.sts.events.events.filter((e: StsEvent) => e.type === 'token.used_after_revocation');
    expect(used).toEqual([expect.objectContaining({ endpoint: 'introspect', sid: sidOf(token), agent: 'billing-agent', aud: API })]);
  });
});

describe('keys rotate --alg RS256 on an ES256 instance', () => {
  let env: Awaited<ReturnType<typeof listeningSts>>;
  let dir: string;
  beforeAll(async () => {
    dir = await keysDir('ES256');
    env = await listeningSts({ keysDir: dir });
  });
  afterAll(async () => {
    await env.close();
  });

  it('after the command and a reload (what SIGHUP does), new tokens are RS256 by the new key and verify against /jwks; the ES256 token still does', async () => {
    const before = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect(decodeProtectedHeader(before).alg).toBe('ES256');
    const r = await runNode([path.join(DIST, 'bin/agent-sts.js'), 'keys', 'rotate', '--alg', 'RS256'], { env: { STS_KEYS_DIR: dir } });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const [added] = await readKeys(dir);
    expect(added!.alg).toBe('RS256');
    expect(decodeProtectedHeader((await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token).alg).toBe('ES256');

    await env.sts.deps.keys.reload();
    const after = (await clientCredentials(env.sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect(decodeProtectedHeader(after)).toEqual({ typ: 'at+jwt', alg: 'RS256', kid: added!.kid });
    expect(await gatewayVerify(env.issuer, after)).toMatchObject({ sid: sidOf(after) });
    const jwks = createRemoteJWKSet(new URL(`${env.issuer}/jwks`));
    expect((await jwtVerify(before, jwks, { issuer: env.issuer, audience: API, algorithms: ['ES256'] })).protectedHeader.alg).toBe('ES256');
  });
});

describe('an RSA key under 2048 bits', () => {
  it('the built server refuses to start, naming the file', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'agent-sts-rs1024-'));
    const jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    const file = path.join(cwd, 'keys', 'weak.jwk.json');
    await addKey(path.join(cwd, 'keys'), 'ES256');
    writeFileSync(file, JSON.stringify({ ...jwk, kid: 'weak', alg: 'RS256', use: 'sig', iat: Math.floor(Date.now() / 1000) }));
    const r = await runNode([path.join(DIST, 'bin/agent-sts-server.js')], { cwd, env: { NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1' } });
    expect(r).toEqual({ code: 1, stdout: '', stderr: `agent-sts failed to start: ${file}: an RS256 key must have 2048 to 4096 bits; this one has 1024\n` });
  });
});
