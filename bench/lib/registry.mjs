// Live-registry scenarios (issue 9 §4): a disable of an agent holding N live sessions while C
// connections keep asking a second instance for tokens with its credentials; and how long a change
// made through one instance takes to be visible on another.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { ADMIN_AUDIENCE, API, AGENTS, SECRET } from './agent-sts.mjs';
import { basic, expectStatus, FORM, form, pool, request } from './http.mjs';

const BUILD_CONCURRENCY = 32;
const CHECK_CONCURRENCY = 32;
/** Load on the second instance runs this long before the disable and after it returns. */
const LOAD_AROUND_MS = 1_000;
/** A change not visible on the other instance within this is recorded as missed. */
const VISIBLE_WITHIN_MS = 5_000;

export async function manageToken(sts) {
  const body = { grant_type: 'client_credentials', resource: ADMIN_AUDIENCE, scope: 'agents:read agents:manage' };
  return (await expectStatus(200, sts.tokenUrl, { auth: basic(AGENTS.admin, SECRET), body })).access_token;
}

const json = (admin, body) => ({ auth: `Bearer ${admin}`, contentType: 'application/json', body: JSON.stringify(body) });

async function createAgent(sts, admin, id) {
  const body = { id, owner: 'bench', audiences: { [API]: ['read'] }, maxTokenTtlSeconds: 3_600 };
  return (await expectStatus(201, `${sts.adminUrl}/agents`, json(admin, body))).client_secret;
}

const ccBody = form({ grant_type: 'client_credentials', resource: API, scope: 'read' });

/**
 * `a` gets the disable, `b` the load. Afterwards every token of the agent must introspect inactive
 * on `b`, and no request sent to `b` after the disable returned may have been answered 200.
 */
export async function disableUnderLoad(a, b, { size, connections }) {
  const admin = await manageToken(a);
  const id = `bench-disable-${Date.now()}`;
  const secret = await createAgent(a, admin, id);
  const auth = basic(id, secret);
  const tokens = await pool(size, BUILD_CONCURRENCY, async () => (await expectStatus(200, a.tokenUrl, { auth, body: ccBody })).access_token);
  let disabledAt = Infinity;
  const counts = { before: 0, afterSent: 0, afterOk: 0, afterRefused: 0, other: 0 };
  const instance = autocannon({
    url: b.tokenUrl, method: 'POST', connections, pipelining: 1, timeout: 10, duration: 60,
    headers: { authorization: auth, 'content-type': FORM }, body: ccBody,
    requests: [{
      setupRequest: (req, context) => {
        context.sentAt = performance.now();
        return req;
      },
      onResponse: (status, _body, context) => {
        if (context.sentAt <= disabledAt) counts.before++;
        else {
          counts.afterSent++;
          if (status === 200) counts.afterOk++;
          else if (status === 401) counts.afterRefused++;
          else counts.other++;
        }
      },
    }],
  });
  const done = new Promise((resolve) => instance.on('done', resolve));
  await new Promise((r) => setTimeout(r, LOAD_AROUND_MS));
  const t0 = performance.now();
  const res = await request(`${a.adminUrl}/agents/${encodeURIComponent(id)}/disable`, { auth: `Bearer ${admin}` });
  disabledAt = performance.now();
  await new Promise((r) => setTimeout(r, LOAD_AROUND_MS));
  instance.stop();
  await done;
  const states = await pool(tokens.length, CHECK_CONCURRENCY, async (i) => {
    const r = await request(b.introspectUrl, { auth: basic(API, SECRET), body: { token: tokens[i] } });
    return r.status === 200 ? (r.body.active ? 'active' : 'inactive') : 'failed';
  });
  const active = states.filter((s) => s === 'active').length;
  const ms = disabledAt - t0;
  return {
    scenario: `disable agent with ${size.toLocaleString('en-US')} sessions, ${connections} connections asking instance B`,
    'disable ms': Math.round(ms),
    status: res.status,
    revoked: res.body?.revoked,
    'active after': active,
    'introspect failed': states.filter((s) => s === 'failed').length,
    '200 sent after disable': counts.afterOk,
    '401 sent after disable': counts.afterRefused,
    'other sent after': counts.other,
    'answered, sent before': counts.before,
    ok: res.status === 200 && res.body.revoked >= size && active === 0 && counts.afterOk === 0 && ms < 1_000,
  };
}

export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/**
 * `changes` rotations (overlap 0) on `a`; after each, the new secret is tried on `b` back to back
 * until it works: { delays (ms from a's answer to b's first 200), missed }.
 */
export async function measureVisibility(a, b, { changes }) {
  const admin = await manageToken(a);
  const id = `bench-visible-${Date.now()}`;
  await createAgent(a, admin, id);
  const delays = [];
  let missed = 0;
  for (let i = 0; i < changes; i++) {
    const rotated = await expectStatus(201, `${a.adminUrl}/agents/${encodeURIComponent(id)}/credentials`, json(admin, { type: 'secret' }));
    const t0 = performance.now();
    const auth = basic(id, rotated.client_secret);
    let seen = false;
    while (performance.now() - t0 < VISIBLE_WITHIN_MS) {
      if ((await request(b.tokenUrl, { auth, body: ccBody })).status === 200) {
        seen = true;
        break;
      }
    }
    if (seen) delays.push(performance.now() - t0);
    else missed++;
  }
  return { delays, missed };
}

/** measureVisibility as one table row: p50, p99 and max of the delays. */
export async function visibilityDelay(a, b, { changes }) {
  const { delays, missed } = await measureVisibility(a, b, { changes });
  const sorted = [...delays].sort((x, y) => x - y);
  return {
    scenario: `registry change (secret rotation on A) visible on B, ${changes} changes`,
    'p50 ms': sorted.length ? percentile(sorted, 50).toFixed(1) : 'n/a',
    'p99 ms': sorted.length ? percentile(sorted, 99).toFixed(1) : 'n/a',
    'max ms': sorted.length ? sorted.at(-1).toFixed(1) : 'n/a',
    missed,
    ok: missed === 0,
  };
}
