import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Router } from 'express';
import request from 'supertest';
import { noStore } from '../../src/admin/http-kit.js';
import { privateMounts, serviceContext } from '../../src/app.js';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { ADMIN_AUD, API, basic, claims, clientCredentials, OTHER_API, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * Every answer of the admin API and SSF is private to its caller (Cache-Control: no-store), by
 * construction: each of their routers is made by privateRouter (admin/http-kit.ts), whose no-store
 * layer runs before its routes, so none depends on being mounted after another. The routes are
 * not listed here: they are walked from the routers the app mounts (app.ts privateMounts), so a
 * route added later is covered without editing this file.
 */

const ROOT_ADMIN = 'root-admin';
const ROOT_ADMIN_SECRET = 'root-admin-secret-0123456789abcdefghij';
/** Public by design: the SSF transmitter metadata (SSF 1.0 §7.1), cached like the OAuth metadata. */
const PUBLIC_ROUTES = ['/.well-known/ssf-configuration'];
/** Reads first, then changes: a route's GET answers before a DELETE of the same thing. */
const METHODS_OF_A_ROUTE = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

interface RouteSeen {
  path: string;
  methods: string[];
  /** A no-store layer of its router (or an enclosing one) runs before it and matches its path. */
  guarded: boolean;
}

/** express 5's router internals, as far as this walk reads them. */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: ((...args: never[]) => unknown) & { stack?: Layer[] };
  match(path: string): unknown;
}

function routesOf(stack: Layer[], at: string, guardedAbove: Layer[] = []): RouteSeen[] {
  const out: RouteSeen[] = [];
  const guards = [...guardedAbove];
  for (const layer of stack) {
    if (layer.route) {
      const { path } = layer.route;
      const methods = METHODS_OF_A_ROUTE.filter((m) => layer.route!.methods[m]);
      out.push({ path: `${at.replace(/\/$/, '')}${path}`, methods, guarded: guards.some((g) => g.match(path)) });
    } else if (layer.handle === noStore) {
      guards.push(layer);
    } else if (layer.handle.stack) {
      // a router inside a router, mounted without a path (adminRouter's sub-routers)
      out.push(...routesOf(layer.handle.stack, at, guards));
    }
  }
  return out;
}

describe('every admin and SSF route answers Cache-Control: no-store, errors included', () => {
  let sts: TestSts;
  let routes: RouteSeen[];
  let admin: string;
  let sid: string;
  let streamId: string;

  beforeAll(async () => {
    sts = await startSts({
      live: true,
      registry: testRegistry({ agents: [{ id: ROOT_ADMIN, secretHash: hashSecret(ROOT_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }] }),
    });
    routes = privateMounts(sts.deps, serviceContext(sts.deps)).flatMap(({ at, router }) => routesOf((router as Router & { stack: Layer[] }).stack, at));
    const res = await request(sts.app).post('/token').set('Authorization', basic(ROOT_ADMIN, ROOT_ADMIN_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    admin = res.body.access_token as string;
    sid = claims((await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token).sid as string;
    streamId = (await request(sts.app).post('/ssf/streams').set('Authorization', basic(API)).send({})).body.stream_id as string;
    // registered, so GET .../ssf-push (push/admin.ts, once no-store only by mount order) answers 200
    expect((await request(sts.app).put(`/admin/resource-servers/${encodeURIComponent(OTHER_API)}/ssf-push`).set('Authorization', `Bearer ${admin}`)
      .send({ endpoint: 'http://127.0.0.1:9/' })).status).toBe(200);
  });
  afterAll(async () => {
    await sts?.close();
  });

  it('finds the routes: every admin resource and every SSF endpoint', () => {
    const paths = routes.map((r) => r.path);
    for (const p of ['/admin/sessions', '/admin/audit/', '/admin/access-review', '/admin/agents/:id', '/admin/resource-servers/:id/ssf-push',
      '/admin/subjects/:sub/revoke-sessions', '/ssf/poll', '/ssf/streams', '/ssf/verify']) {
      expect(paths).toContain(p);
    }
    expect(routes.length).toBeGreaterThan(20);
  });

  it('by construction: a no-store layer of its own router runs before every route but the public metadata', () => {
    const unguarded = routes.filter((r) => !r.guarded).map((r) => r.path);
    expect(unguarded).toEqual(PUBLIC_ROUTES);
  });

  /** The route's path with live values: a session, an agent, a resource server, a user, a stream. */
  const concrete = (path: string) => path
    .replace(':sid', sid)
    .replace(/\/resource-servers\/:id/, `/resource-servers/${encodeURIComponent(OTHER_API)}`)
    .replace(':id', 'leaf-agent')
    .replace(':sub', 'user-1')
    .replace(':streamId', streamId)
    .replace(':credentialId', 'no-such-credential');

  const send = (method: string, path: string, authenticated: boolean) => {
    const url = concrete(path) + (method === 'delete' && path.endsWith('/ssf/streams') ? `?stream_id=${streamId}` : '');
    const req = request(sts.app)[method as 'get'](url);
    if (authenticated) req.set('Authorization', path.startsWith('/ssf/') ? basic(API) : `Bearer ${admin}`);
    if (method === 'get' || method === 'head' || method === 'delete') return req;
    return req.send(path.startsWith('/ssf/poll') ? { returnImmediately: true } : path.endsWith('/ssf/verify') ? { stream_id: streamId } : {});
  };

  it('live: unauthenticated, authenticated (reads first, then changes), and a method the route does not serve', async () => {
    const seen: { call: string; status: number; cacheControl: unknown }[] = [];
    const note = (call: string, res: request.Response) => seen.push({ call, status: res.status, cacheControl: res.headers['cache-control'] });
    const privateRoutes = routes.filter((r) => r.guarded);
    const serves = (r: RouteSeen, method: string) => r.methods.includes(method) || (method === 'head' && r.methods.includes('get'));
    for (const authenticated of [false, true]) {
      for (const method of METHODS_OF_A_ROUTE) {
        for (const r of privateRoutes.filter((x) => serves(x, method))) note(`${authenticated ? '' : 'anonymous '}${method} ${r.path}`, await send(method, r.path, authenticated));
      }
    }
    for (const r of privateRoutes) {
      const other = METHODS_OF_A_ROUTE.find((m) => m !== 'head' && !r.methods.includes(m))!;
      note(`${other} ${r.path} (405)`, await send(other, r.path, true));
    }
    expect(seen.filter((s) => s.cacheControl !== 'no-store')).toEqual([]);
    // the middleware's own work: answers the handlers wrote themselves (errors are rendered no-store anyway)
    const written = seen.filter((s) => s.status < 400);
    expect(written.length).toBeGreaterThan(20);
    expect(written.map((s) => s.call)).toEqual(expect.arrayContaining([
      'get /admin/sessions', 'head /admin/sessions', 'get /admin/resource-servers/:id/ssf-push', 'get /ssf/streams', 'post /ssf/poll', 'post /ssf/verify', 'delete /ssf/streams',
    ]));
  });

  it('the public metadata stays cacheable', async () => {
    const res = await request(sts.app).get('/.well-known/ssf-configuration');
    expect([res.status, res.headers['cache-control']]).toEqual([200, 'public, max-age=300']);
  });
});
