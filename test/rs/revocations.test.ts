import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import request from 'supertest';
import { CAEP_SESSION_REVOKED, REVOKED_SESSIONS_MEMBER, SET_TYP, SSF_VERIFICATION } from 'agent-sts-gate/protocol';
import { requireToken, revocationFeed, type RequireTokenOptions, type RevocationFeed } from 'agent-sts-gate/express';
import { tokenVerifier } from 'agent-sts-gate/mcp';
import { ok, sidOf } from '../helpers/responses.js';
import { API, clientCredentials, exchange, kill, SECRETS, startSts, type TestSts } from '../helpers/sts.js';
import { listen } from '../helpers/http.js';
import { until } from '../helpers/wait.js';

/**
 * requireToken (and the MCP verifier) subscribe to agent-sts's revocation events: local mode
 * refuses a killed session without calling introspection, introspect mode drops cached answers,
 * and while the feed is stale both ask agent-sts every time (never "trust"). The feed applies only
 * SETs that verify against the issuer's JWKS, for this audience, once each.
 */

let sts: TestSts;
let issuer: string;
let server: Awaited<ReturnType<typeof listen>>;
const calls = { introspect: 0, poll: 0 };
/** Set by a test to make /ssf/poll fail (agent-sts unreachable for the feed only). */
let pollDown = false;

beforeAll(async () => {
  server = await listen();
  issuer = server.url;
  sts = await startSts({ store: 'redis', issuer, ssfLongPollMs: 200 });
  server.handle((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/introspect') calls.introspect++;
    if (req.url === '/ssf/poll') {
      calls.poll++;
      if (pollDown) return void res.writeHead(503).end('{}');
    }
    sts.app(req, res);
  });
});
afterAll(async () => {
  await server.close();
  await sts.close();
});

const feeds: RevocationFeed[] = [];
const feedFor = (extra: Partial<Parameters<typeof revocationFeed>[0]> = {}) => {
  const f = revocationFeed({ issuer, audience: API, credentials: { clientId: API, clientSecret: SECRETS[API]! }, staleAfterMs: 1_000, ...extra });
  feeds.push(f);
  return f;
};

/** A clock the test moves: staleness is time passing, never a wait. */
function fakeClock() {
  let nowMs = Date.now();
  return { nowMs: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

/** Makes /ssf/poll fail, waits for a poll to fail (after it, no earlier poll can still succeed), then moves the clock past staleness. */
async function goStale(feed: RevocationFeed, clock: ReturnType<typeof fakeClock>, staleAfterMs: number) {
  const failures = feed.stats().failures;
  pollDown = true;
  await until(() => feed.stats().failures > failures, 'a poll fails');
  clock.advance(staleAfterMs);
  expect(feed.fresh()).toBe(false);
}
afterEach(() => {
  for (const f of feeds.splice(0)) f.close();
  pollDown = false;
});

function api(options: RequireTokenOptions) {
  const app = express();
  app.get('/invoices', requireToken({ ...options, scopes: ['invoices:read'] }), (_req, res) => res.json({ ok: true }));
  return app;
}
const local = (revocations: RevocationFeed): RequireTokenOptions => ({ issuer, audience: API, mode: 'local', clientSecret: SECRETS[API]!, revocations });

const get = (app: express.Express, token: string) => request(app).get('/invoices').set('Authorization', `Bearer ${token}`);

describe('local mode with the feed', () => {
  it('a killed session is refused without a single introspection, its descendants too (a mid-tree kill)', async () => {
    const feed = feedFor();
    const app = api(local(feed));
    await feed.ready();
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    const mid = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
    const leaf = await ok(exchange(sts, 'leaf-agent', mid, API, 'invoices:read'));
    const before = calls.introspect;
    for (const t of [root, mid, leaf]) expect((await get(app, t)).status).toBe(200);
    await kill(sts, sidOf(mid));
    await until(() => feed.isRevoked(sidOf(leaf)), 'the kill is heard');
    expect((await get(app, mid)).body).toMatchObject({ error: 'invalid_token' });
    expect((await get(app, leaf)).status).toBe(401);
    expect((await get(app, root)).status).toBe(200);
    expect(calls.introspect).toBe(before);
    expect(feed.stats()).toMatchObject({ applied: 1, ignored: 0, revoked: 2, fallbacks: 0 });
  });

  it('one feed serves several gates: an express route and the MCP verifier both refuse the killed session', async () => {
    const feed = feedFor();
    const app = api(local(feed));
    const mcp = tokenVerifier(local(feed));
    await feed.ready();
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    await expect(mcp.verifyAccessToken(t)).resolves.toMatchObject({ clientId: 'billing-agent' });
    await kill(sts, sidOf(t));
    await until(() => feed.isRevoked(sidOf(t)), 'the kill is heard');
    expect((await get(app, t)).status).toBe(401);
    await expect(mcp.verifyAccessToken(t)).rejects.toMatchObject({ errorCode: 'invalid_token' });
  });

  it('while the feed is stale, every request is introspected, so a kill it missed is still refused; back, it catches up and local verification resumes', async () => {
    const clock = fakeClock();
    const feed = feedFor({ clock });
    const app = api({ ...local(feed), clock });
    await feed.ready();
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect((await get(app, t)).status).toBe(200);
    await goStale(feed, clock, 1_000);
    const before = calls.introspect;
    expect((await get(app, t)).status).toBe(200);
    expect(calls.introspect).toBe(before + 1);
    expect(feed.stats().fallbacks).toBe(1);
    await kill(sts, sidOf(t));
    expect(feed.isRevoked(sidOf(t))).toBe(false);
    expect((await get(app, t)).status).toBe(401);
    // feed back: it catches up on what it missed, and local verification resumes
    pollDown = false;
    await until(() => feed.fresh() && feed.isRevoked(sidOf(t)), 'the feed catches up');
    const after = calls.introspect;
    const u = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect((await get(app, u)).status).toBe(200);
    expect(calls.introspect).toBe(after);
  });

  it('agent-sts wholly unreachable and the feed stale: 503, never a pass', async () => {
    const down = await listen();
    const feed = revocationFeed({ issuer: down.url, audience: API, credentials: { clientId: API, clientSecret: SECRETS[API]! }, staleAfterMs: 300 });
    feeds.push(feed);
    const app = api({ issuer: down.url, audience: API, mode: 'local', clientSecret: SECRETS[API]!, revocations: feed });
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    expect((await get(app, t)).status).toBe(503);
    await down.close();
  });
});

describe('introspect mode with a cache and the feed', () => {
  it('a kill drops the cached answer; while the feed is stale nothing cached is reused', async () => {
    const clock = fakeClock();
    const feed = feedFor({ clock });
    const app = api({ issuer, audience: API, clientSecret: SECRETS[API]!, cacheMaxAgeSeconds: 60, revocations: feed, clock });
    await feed.ready();
    const t = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const before = calls.introspect;
    expect((await get(app, t)).status).toBe(200);
    expect((await get(app, t)).status).toBe(200);
    expect(calls.introspect).toBe(before + 1);
    await kill(sts, sidOf(t));
    await until(() => feed.isRevoked(sidOf(t)), 'the kill is heard');
    expect((await get(app, t)).status).toBe(401);

    const u = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    await goStale(feed, clock, 1_000);
    const stale = calls.introspect;
    expect((await get(app, u)).status).toBe(200);
    expect((await get(app, u)).status).toBe(200);
    expect(calls.introspect).toBe(stale + 2);
  });
});

describe('the feed applies only SETs it can verify, for its own audience, once', () => {
  let fake: Awaited<ReturnType<typeof listen>>;
  let key: CryptoKey;
  let forger: CryptoKey;
  let jwk: JWK;
  const polls: Record<string, unknown>[] = [];
  let answers: Record<string, unknown>[] = [];
  let jwksDown = false;
  beforeAll(async () => {
    ({ privateKey: key, publicKey: jwk } = await (async () => {
      const pair = await generateKeyPair('ES256');
      return { privateKey: pair.privateKey, publicKey: { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' } };
    })());
    forger = (await generateKeyPair('ES256')).privateKey;
    fake = await listen();
    fake.handle((req, res) => {
      const json = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url === '/.well-known/ssf-configuration') return json({ issuer: fake.url, jwks_uri: `${fake.url}/jwks`, poll_endpoint: `${fake.url}/poll` });
      if (req.url === '/jwks') return jwksDown ? void res.writeHead(500).end() : json({ keys: [jwk] });
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        polls.push(JSON.parse(body) as Record<string, unknown>);
        const next = answers.shift();
        if (next) json(next);
        else setTimeout(() => json({ sets: {} }), 100);
      });
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  const set = (jti: string, sid: string, o: { signer?: CryptoKey; aud?: string; typ?: string; iat?: number; iss?: string } = {}) =>
    new SignJWT({
      txn: 't', sub_id: { format: 'complex', session: { format: 'opaque', id: sid } },
      events: { [CAEP_SESSION_REVOKED]: { event_timestamp: 0, initiating_entity: 'admin', reason_admin: { en: 'x' }, [REVOKED_SESSIONS_MEMBER]: [{ sid, exp: Math.floor(Date.now() / 1000) + 300 }] } },
    })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: o.typ ?? SET_TYP })
      .setIssuer(o.iss ?? fake.url).setAudience(o.aud ?? API).setJti(jti).setIssuedAt(o.iat ?? Math.floor(Date.now() / 1000))
      .sign(o.signer ?? key);

  it('forged, misaddressed, mistyped and stale SETs are ignored and reported in setErrs, a replayed jti ignored; the genuine one is applied and acknowledged (a verification event just acknowledged)', async () => {
    const day = 86_400;
    answers = [{
      sets: {
        forged: await set('forged', 'sid-forged', { signer: forger }),
        other: await set('other', 'sid-other', { aud: 'https://other.example.com' }),
        elsewhere: await set('elsewhere', 'sid-elsewhere', { iss: 'https://evil.example.com' }),
        typed: await set('typed', 'sid-typed', { typ: 'JWT' }),
        old: await set('old', 'sid-old', { iat: Math.floor(Date.now() / 1000) - day - 60 }),
        swapped: await set('real-jti', 'sid-swapped'),
        good: await set('good', 'sid-good'),
        verification: await new SignJWT({ sub_id: { format: 'opaque', id: 'another-stream' }, events: { [SSF_VERIFICATION]: { state: 's' } } })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: SET_TYP }).setIssuer(fake.url).setAudience(API).setJti('verification').setIssuedAt().sign(key),
      },
    }, { sets: { good: await set('good', 'sid-replayed') } }];
    const feed = revocationFeed({ issuer: fake.url, audience: API, credentials: { clientId: API, clientSecret: 's' } });
    feeds.push(feed);
    feed.start();
    await until(() => polls.length >= 3, 'the feed polls three times');
    for (const sid of ['sid-forged', 'sid-other', 'sid-elsewhere', 'sid-typed', 'sid-old', 'sid-swapped', 'sid-replayed']) expect(feed.isRevoked(sid)).toBe(false);
    expect(feed.isRevoked('sid-good')).toBe(true);
    expect(feed.stats()).toMatchObject({ applied: 1, ignored: 7 });
    expect(polls[0]).toMatchObject({ returnImmediately: true });
    expect(polls[1]).toMatchObject({ ack: ['good', 'verification'], returnImmediately: false });
    expect(Object.keys(polls[1]!.setErrs as object).sort()).toEqual(['elsewhere', 'forged', 'old', 'other', 'swapped', 'typed']);
    expect(polls[2]).toMatchObject({ ack: ['good'], setErrs: {} });
  });

  it('while the issuer\'s keys cannot be fetched a SET is neither applied nor acknowledged; once they can, it is', async () => {
    polls.length = 0;
    jwksDown = true;
    const later = await set('later', 'sid-later');
    answers = [{ sets: { later } }, { sets: { later } }];
    const feed = revocationFeed({ issuer: fake.url, audience: API, credentials: { clientId: API, clientSecret: 's' } });
    feeds.push(feed);
    feed.start();
    await until(() => feed.stats().failures >= 1, 'a poll fails on the keys');
    expect(feed.isRevoked('sid-later')).toBe(false);
    jwksDown = false;
    await until(() => feed.isRevoked('sid-later'), 'the SET is applied once the keys load');
    expect(polls[1]).toMatchObject({ ack: [], setErrs: {} });
    await until(() => polls.length >= 3, 'the next poll');
    expect(polls[2]).toMatchObject({ ack: ['later'], setErrs: {} });
    expect(feed.stats()).toMatchObject({ applied: 1, ignored: 0 });
  });

  it('a resync from agent-sts runs the resync listeners (introspect mode clears its cache in one)', async () => {
    polls.length = 0;
    answers = [{ sets: {}, resync: true }];
    const feed = revocationFeed({ issuer: fake.url, audience: API, credentials: { clientId: API, clientSecret: 's' } });
    feeds.push(feed);
    let told = 0;
    feed.onResync(() => told++);
    await feed.ready();
    expect([told, feed.stats().resyncs]).toEqual([1, 1]);
  });
});
