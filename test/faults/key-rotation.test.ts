import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import request from 'supertest';
import type { Deps } from '../../src/deps.js';
import { addKey, generateKey, type StoredKey } from '../../src/keys/keystore.js';
import { API, AT_TYPE, basic, claims, EXCHANGE, ISSUER, startSts, type TestSts } from '../helpers/sts.js';

/**
 * Key rotation under load: while a bounded loop issues and introspects tokens, a new key is added to
 * the keys dir and the key store reloaded (what SIGHUP does). Zero errors; tokens signed before the
 * rotation stay active and still verify against /jwks (both kids published); tokens issued after it
 * carry the new kid; old tokens stay valid until they expire, and no longer.
 */

type Res = request.Response;
const ITERATIONS = 300; // each: one issuance, one introspection, one /jwks read
const CONCURRENCY = 10;
const ROTATE_AT = 100;

interface Issued {
  token: string;
  kid: string;
  /** sent after the reload had resolved */
  afterRotation: boolean;
  /** sent before the new key was written */
  beforeRotation: boolean;
}

describe('key rotation under load: zero errors, old tokens valid until they expire', () => {
  let server: Server;
  let deps: Deps;
  let keysDir: string;
  let oldKey: StoredKey;
  let newKey: StoredKey;
  let offsetMs = 0;
  let sts: TestSts;
  const issued: Issued[] = [];
  const failures: { what: string; status: number; body: unknown }[] = [];
  const jwksSeen: string[][] = [];

  beforeAll(async () => {
    keysDir = mkdtempSync(path.join(tmpdir(), 'agent-sts-keys-'));
    // The key in service was made an hour ago (keys are ordered by their iat, in seconds).
    oldKey = await generateKey('ES256', Date.now() - 3_600_000);
    writeFileSync(path.join(keysDir, `${oldKey.kid}.jwk.json`), JSON.stringify(oldKey), { mode: 0o600 });
    sts = await startSts({ issuer: ISSUER, keysDir, clock: { nowMs: () => Date.now() + offsetMs } });
    deps = sts.deps;
    server = createServer(sts.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sts.close();
  });

  const issue = () =>
    request(server).post('/token').set('Authorization', basic('billing-agent')).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' }).then((r) => r);
  const introspect = (token: string) =>
    request(server).post('/introspect').set('Authorization', basic(API)).type('form').send({ token }).then((r) => r);
  const jwks = async () => (await request(server).get('/jwks')).body as { keys: JWK[] };
  const kidOf = (token: string) => decodeProtectedHeader(token).kid as string;
  const verify = async (token: string, set: { keys: JWK[] }) =>
    (await jwtVerify(token, createLocalJWKSet(set), { issuer: ISSUER, audience: API, typ: 'at+jwt', algorithms: ['ES256'] })).payload;

  // The scenario runs once, before any test: a token with the old key, then the load with the
  // rotation in its middle. The tests only read what it recorded, so they pass in any order.
  let first: Res;
  let firstJwks: { keys: JWK[] };
  let reloaded = false;
  beforeAll(async () => {
    first = await issue();
    firstJwks = await jwks();
    if (first.status === 200) issued.push({ token: first.body.access_token as string, kid: kidOf(first.body.access_token as string), afterRotation: false, beforeRotation: true });
    let started = false;
    let rotation: Promise<void> | undefined;
    let next = 0;
    let done = 0;
    const record = (what: string, res: Res) => {
      if (res.status !== 200) failures.push({ what, status: res.status, body: res.body });
    };
    const lane = async () => {
      while (next < ITERATIONS) {
        next++;
        const beforeRotation = !started;
        const afterRotation = reloaded;
        const res = await issue();
        record('token', res);
        if (res.status === 200) {
          const token = res.body.access_token as string;
          issued.push({ token, kid: kidOf(token), afterRotation, beforeRotation });
          const intro = await introspect(token);
          record('introspect', intro);
          if (intro.body.active !== true) failures.push({ what: 'introspect active', status: intro.status, body: intro.body });
          // an older token, introspected again while keys change
          const old = issued[Math.floor(Math.random() * issued.length)]!;
          const again = await introspect(old.token);
          record('introspect old', again);
          if (again.body.active !== true) failures.push({ what: 'introspect old active', status: again.status, body: again.body });
        }
        const set = await request(server).get('/jwks');
        record('jwks', set);
        jwksSeen.push(((set.body as { keys: JWK[] }).keys ?? []).map((k) => k.kid!));
        if (++done === ROTATE_AT) {
          started = true;
          rotation = (async () => {
            newKey = await addKey(keysDir);
            await deps.keys.reload(); // what SIGHUP does
            reloaded = true;
          })();
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    await rotation;
  }, 60_000);

  it('before: tokens carry the old kid and /jwks publishes it alone', () => {
    expect(first.status).toBe(200);
    expect(kidOf(first.body.access_token as string)).toBe(oldKey.kid);
    expect(firstJwks.keys.map((k) => k.kid)).toEqual([oldKey.kid]);
  });

  it(`${ITERATIONS} issue + introspect + /jwks iterations, ${CONCURRENCY} at a time, rotation after ${ROTATE_AT}: zero non-200`, () => {
    expect(reloaded).toBe(true);
    expect(failures).toEqual([]);
    expect(issued.length).toBe(ITERATIONS + 1);
  });

  it('tokens sent before the rotation carry the old kid; tokens sent after the reload carry the new one', () => {
    const before = issued.filter((i) => i.beforeRotation);
    const after = issued.filter((i) => i.afterRotation);
    expect(before.length).toBeGreaterThanOrEqual(ROTATE_AT);
    expect(after.length).toBeGreaterThan(0);
    expect(before.filter((i) => i.kid !== oldKey.kid)).toEqual([]);
    expect(after.filter((i) => i.kid !== newKey.kid)).toEqual([]);
    expect(newKey.kid).not.toBe(oldKey.kid);
  });

  it('/jwks never dropped the old key: every read had it; after the rotation both kids are published', async () => {
    expect(jwksSeen.filter((kids) => !kids.includes(oldKey.kid))).toEqual([]);
    expect((await jwks()).keys.map((k) => k.kid).sort()).toEqual([oldKey.kid, newKey.kid].sort());
    // public halves only
    for (const k of (await jwks()).keys) expect(k).not.toHaveProperty('d');
  });

  it('every token, old and new, verifies against the final /jwks and introspects active', async () => {
    const set = await jwks();
    for (const { token } of issued) await expect(verify(token, set)).resolves.toMatchObject({ sid: claims(token).sid });
    const results = await Promise.all(issued.map(({ token }) => introspect(token)));
    expect(results.filter((r) => r.status !== 200 || r.body.active !== true)).toEqual([]);
  });

  it('an old-kid token can still be exchanged after the rotation; the child is signed with the new key', async () => {
    const old = issued.find((i) => i.kid === oldKey.kid)!;
    const res = await request(server).post('/token').set('Authorization', basic('sub-agent')).type('form')
      .send({ grant_type: EXCHANGE, subject_token: old.token, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read' });
    expect(res.status).toBe(200);
    expect(kidOf(res.body.access_token as string)).toBe(newKey.kid);
  });

  it('old tokens are valid until they expire, and no longer', async () => {
    const old = issued.filter((i) => i.kid === oldKey.kid);
    const exp = Math.max(...old.map((i) => claims(i.token).exp as number));
    offsetMs = exp * 1000 - Date.now() + 1_000; // the app's clock is now past the last old token's expiry
    try {
      const results = await Promise.all(old.map((i) => introspect(i.token)));
      expect(results.filter((r) => r.status !== 200 || r.body.active !== false)).toEqual([]);
    } finally {
      offsetMs = 0; // back to now, for whichever test runs next
    }
  });
});
