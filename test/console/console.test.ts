import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { CONSOLE_CSP } from '../../src/http/console.js';
import { DESKTOP, launchChromium, pageErrors, PHONE, screenshot, type Browser } from '../helpers/browser.js';
import { listen } from '../helpers/http.js';
import { expectActive, expectInactive } from '../helpers/liveness.js';
import { ok, sidOf } from '../helpers/responses.js';
import { eventually } from '../helpers/wait.js';
import { ADMIN_AUD, adminToken, API, basic, clientCredentials, exchange, EXCHANGE, OTHER_API, SECRETS, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * The admin console in a real headless Chromium against a real agent-sts on Redis: what the page
 * shows, and what the server says afterwards.
 */
const CONSOLE_ADMIN = 'console-admin';
const CONSOLE_ADMIN_SECRET = 'console-admin-secret-0123456789abcdefgh';
/** An admin agent with requireDpop: it gets DPoP-bound tokens only, and the admin API takes them only with a proof. */
const DPOP_ADMIN = 'console-dpop-admin';
const DPOP_ADMIN_SECRET = 'console-dpop-admin-secret-0123456789abcd';
/** Browser tests wait on the page (bounded by UI_TIMEOUT_MS per wait), so each gets more than jest's default. */
const BROWSER_TEST_MS = 60_000;
/** Sessions' `created` is whole seconds: the service's clock steps this far ahead so "newest" is not a tie. */
const CLOCK_STEP_MS = 2_000;
const NEW_AGENT = 'console-made-agent';
const NEW_SERVER = 'https://console-made.example.com';
/** The root of a chain three deep (it → sub-agent → leaf-agent) that no other test's numbers count. */
const CHAIN_ROOT = 'console-chain-root';
const CHAIN_ROOT_SECRET = 'console-chain-root-secret-0123456789abcd';

describe('the admin console (/console) in headless Chromium', () => {
  let sts: TestSts;
  let server: { url: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let errors: string[] = []; // stays empty when the browser never launched, so only the launch error is reported
  let skewMs = 0; // the service's clock: real time plus what a test stepped it ahead
  const clock = { nowMs: () => Date.now() + skewMs };
  // billing-agent's root P → sub-agent's C → leaf-agent's L: the tree the console shows and kills from
  let tokP: string, tokC: string, tokL: string;
  let P: string, C: string, L: string;

  const adminApi = async (path: string) => {
    const token = await request(sts.app).post('/token').set('Authorization', basic(CONSOLE_ADMIN, CONSOLE_ADMIN_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    return request(sts.app).get(path).set('Authorization', `Bearer ${token.body.access_token}`);
  };
  const logIn = async (id: string, secret: string) => {
    await page.locator('#client-id').fill(id);
    await page.locator('#client-secret').fill(secret);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#nav').waitFor();
  };
  /** A token request for a client of the registry, answered whatever its status. */
  const tokenFor = (id: string, secret: string, target: string, scope: string) => request(sts.app).post('/token').set('Authorization', basic(id, secret)).type('form')
    .send({ grant_type: 'client_credentials', resource: target, scope });
  const dialogButton = (name: string) => page.getByRole('dialog').getByRole('button', { name });
  const killButton = (sid: string, agent: string) => page.getByRole('button', { name: new RegExp(`^Kill session ${sid.replaceAll('.', '\\.')} of ${agent}`) });
  const node = (sid: string) => page.locator(`li.node[data-sid="${sid}"]`);
  // Expressions run in the page are strings: this project's TypeScript has no DOM types (and the CSP forbids eval, so waits use locators).
  const noOverflow = () => page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth');
  const searchSessions = async (agent: string) => {
    await page.goto(`${server.url}/console/#sessions`).catch(() => {}); // same document: only the hash changes
    await page.locator('#session-search input[name="agent"]').fill(agent);
    await page.locator('#session-search input[name="agent"]').press('Enter');
  };

  beforeAll(async () => {
    // The socket first: the issuer is the URL the browser opens, since DPoP proofs name it (htu).
    server = await listen((req, res) => sts.app(req, res));
    sts = await startSts({
      live: true,
      issuer: server.url,
      clock,
      registry: testRegistry({
        agents: [
          { id: CONSOLE_ADMIN, owner: 'platform', secretHash: hashSecret(CONSOLE_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } },
          { id: DPOP_ADMIN, owner: 'platform', secretHash: hashSecret(DPOP_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] }, requireDpop: true },
          {
            id: CHAIN_ROOT, owner: 'platform', secretHash: hashSecret(CHAIN_ROOT_SECRET), audiences: { [API]: ['invoices:read'] },
            maxDelegationDepth: 2, grantTypes: ['client_credentials', EXCHANGE], delegates: ['sub-agent'],
          },
        ],
      }),
    });
    tokP = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    tokC = await ok(exchange(sts, 'sub-agent', tokP, API, 'invoices:read'));
    tokL = await ok(exchange(sts, 'leaf-agent', tokC, API, 'invoices:read'));
    [P, C, L] = [tokP, tokC, tokL].map(sidOf) as [string, string, string];
    browser = await launchChromium();
    page = browser.page;
    errors = pageErrors(page);
  }, BROWSER_TEST_MS);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await sts?.close();
  });
  afterEach(() => {
    // CSP violations and script errors surface here; the expected network errors: a refused login's
    // or a killed token's 401, a bad filter's 400, a 404 for a resource server that pushes nowhere
    expect(errors.filter((e) => !/status of (400|401|404)/.test(e))).toEqual([]);
  });

  it('is served with a strict CSP, security headers and no inline script', async () => {
    const redirect = await request(sts.app).get('/console');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/console/');
    const res = await request(sts.app).get('/console/');
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'content-security-policy': CONSOLE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache',
    });
    expect(CONSOLE_CSP).toBe("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    const scripts = res.text.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toMatch(/\ssrc="[^"]+"/);
    expect(res.text).not.toMatch(/<script\b[^>]*>[^<]+<\/script>|\sstyle=|\son[a-z]+=/i);
    const js = await request(sts.app).get('/console/app.js');
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.headers['content-security-policy']).toBe(CONSOLE_CSP);

    await page.goto(`${server.url}/console`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/');
    await screenshot(page, 'login');
  }, BROWSER_TEST_MS);

  it('logs in with an admin agent: a wrong secret is refused, the token stays out of cookies and storage', async () => {
    await page.locator('#client-id').fill(CONSOLE_ADMIN);
    await page.locator('#client-secret').fill('not-the-secret-0123456789abcdefghijklmn');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Unknown client id or wrong secret.').waitFor();
    expect(await page.locator('#nav').isHidden()).toBe(true);

    await page.locator('#client-secret').fill(CONSOLE_ADMIN_SECRET);
    await page.locator('#client-secret').press('Enter');
    await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
    for (const name of ['Overview', 'Sessions', 'Agents', 'Resource servers', 'Audit trail']) expect(await page.getByRole('link', { name }).isVisible()).toBe(true);
    expect(await page.locator('#who-name').textContent()).toBe(CONSOLE_ADMIN);
    expect(await page.locator('#client-secret').inputValue()).toBe('');
    expect(await browser.context.cookies()).toEqual([]);
    expect(await page.evaluate<number[]>('[localStorage.length, sessionStorage.length]')).toEqual([0, 0]);
    const otherTab = await browser.context.newPage(); // same profile, but the token lives in the first tab only
    await otherTab.goto(`${server.url}/console/#sessions`);
    await otherTab.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(await otherTab.locator('#page-sessions').isHidden()).toBe(true);
    await otherTab.close();
    await screenshot(page, 'logged-in');
  }, BROWSER_TEST_MS);

  it('finds the tree by agent and kills the child from it with the keyboard: the subtree is gone, the parent lives', async () => {
    await searchSessions('billing-agent');
    await node(P).locator(`li.node[data-sid="${C}"] li.node[data-sid="${L}"]`).waitFor();
    await screenshot(page, 'sessions-tree');

    await killButton(P, 'billing-agent').focus();
    await page.keyboard.press('Tab');
    expect(await killButton(C, 'sub-agent').evaluate((b) => b === b.ownerDocument.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`Kill session ${C} of sub-agent and the 1 session delegated from it?`).waitFor();
    await page.keyboard.press('Tab'); // Cancel has the focus first; Tab moves to the kill button
    await page.keyboard.press('Enter');

    await node(C).waitFor({ state: 'detached' });
    await page.getByText(`Killed 2 sessions under ${C}.`).waitFor();
    expect(await node(P).isVisible()).toBe(true);
    await expectInactive(sts, tokC);
    await expectInactive(sts, tokL);
    await expectActive(sts, tokP);
    await screenshot(page, 'sessions-killed');
  }, BROWSER_TEST_MS);

  it('sessions: the newest tree comes first, ahead of older ones past the trees shown, and a search by sid finds its tree', async () => {
    for (let i = 0; i < 30; i++) await clientCredentials(sts, 'outsider-agent', API, 'invoices:read');
    skewMs += CLOCK_STEP_MS;
    const newest = sidOf((await clientCredentials(sts, 'no-exchange-agent', API, 'invoices:read')).access_token);
    await searchSessions('');
    await page.locator('#trees section.agent-trees').first().locator(`li.node[data-sid="${newest}"]`).waitFor();
    await page.getByText(/more trees not shown/).waitFor();
    expect(await page.locator('#trees section.agent-trees').first().getAttribute('aria-label')).toBe('Sessions of no-exchange-agent');
    await screenshot(page, 'sessions-newest');

    // a search by sid: the server's tree of that session, the session marked
    await page.locator('#session-search input[name="agent"]').fill('');
    await page.locator('#session-search input[name="sid"]').fill(P);
    await page.locator('#session-search input[name="sid"]').press('Enter');
    await node(P).and(page.locator('.match')).waitFor();
    await page.locator(`li.node[data-sid="${newest}"]`).waitFor({ state: 'detached' });
    expect(await page.locator('#trees ul.tree > li.node').count()).toBe(1);
    await page.locator('#session-search input[name="sid"]').fill(C); // killed above
    await page.locator('#session-search input[name="sid"]').press('Enter');
    await page.getByText('No live session matches.').waitFor();
    await page.locator('#session-search input[name="sid"]').fill('');
  }, BROWSER_TEST_MS);

  it('the audit trail shows the kill record, filters by session, and says the chain is intact', async () => {
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.locator('#verify').getByText('Chain intact').waitFor();
    const kill = page.locator('li.record[data-type="session.revoked"]').filter({ hasText: `sid=${C}` });
    await kill.waitFor();
    expect(await kill.textContent()).toContain(`by ${CONSOLE_ADMIN}`);

    await page.locator('#audit-filters input[name="sid"]').fill(C);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#audit-list li.record').filter({ hasNotText: C }).first().waitFor({ state: 'detached' });
    await page.locator('li.record[data-type="token.issued"]').filter({ hasText: `sid=${C}` }).waitFor();
    expect(await page.locator('li.record').count()).toBeGreaterThanOrEqual(3); // C's and L's issuance, the kill

    const res = await adminApi(`/admin/audit?sid=${C}&type=session.revoked`);
    expect(res.body.events).toHaveLength(1);
    expect(res.body.events[0]).toMatchObject({ actor: CONSOLE_ADMIN, sid: C });
    expect((await adminApi('/admin/audit/verify')).body).toMatchObject({ ok: true, brokenAt: null });
    await screenshot(page, 'audit');
  }, BROWSER_TEST_MS);

  it('overview: live sessions by agent, issuance, denials by reason and kills over the last hour, the chain, findings, push health and a delegation tree', async () => {
    const receiver = await listen((_req, res) => {
      res.statusCode = 202;
      res.end();
    });
    try {
      // seeded: three denials of one reason, two more sessions of no-exchange-agent, a chain three deep, push to two places
      for (let i = 0; i < 3; i++) expect((await tokenFor('no-exchange-agent', SECRETS['no-exchange-agent']!, API, 'invoices:write')).status).toBe(400);
      for (let i = 0; i < 2; i++) await clientCredentials(sts, 'no-exchange-agent', API, 'invoices:read');
      const root = (await tokenFor(CHAIN_ROOT, CHAIN_ROOT_SECRET, API, 'invoices:read')).body.access_token as string;
      const mid = await ok(exchange(sts, 'sub-agent', root, API, 'invoices:read'));
      await ok(exchange(sts, 'leaf-agent', mid, API, 'invoices:read'));
      const token = (await tokenFor(CONSOLE_ADMIN, CONSOLE_ADMIN_SECRET, ADMIN_AUD, ADMIN_SCOPES.join(' '))).body.access_token as string;
      const get = (path: string) => request(sts.app).get(path).set('Authorization', `Bearer ${token}`);
      const put = (path: string, body: object) => request(sts.app).put(path).set('Authorization', `Bearer ${token}`).send(body);
      // API's delivery goes to a closed port: the kill of one of its sessions fails to arrive
      await put(`/admin/resource-servers/${encodeURIComponent(API)}/ssf-push`, { endpoint: 'http://127.0.0.1:1/closed' }).expect(200);
      await put(`/admin/resource-servers/${encodeURIComponent(OTHER_API)}/ssf-push`, { endpoint: receiver.url }).expect(200);
      const doomed = sidOf((await clientCredentials(sts, 'outsider-agent', API, 'invoices:read')).access_token);
      await request(sts.app).delete(`/admin/sessions/${doomed}`).set('Authorization', `Bearer ${token}`).expect(200);
      const failing = await eventually(async () => (await get(`/admin/resource-servers/${encodeURIComponent(API)}/ssf-push`)).body, (b) => b.delivery?.failing === true, { withinMs: 8_000 });
      expect(failing.delivery.failing).toBe(true);

      // what the trail and the stores hold now (nothing below issues a token)
      const all = async (type: string) => (await get(`/admin/audit?type=${type}&limit=1000`)).body.events as { reason?: string; count?: number }[];
      const issued = (await all('token.issued')).length;
      const seeded = await eventually(async () => (await get('/admin/audit?type=token.denied&agent=no-exchange-agent')).body.events as { reason: string }[], (d) => d.length === 3);
      expect(seeded).toHaveLength(3);
      const reason = seeded[0]!.reason;
      expect(seeded.map((e) => e.reason)).toEqual([reason, reason, reason]);
      const denials = await all('token.denied');
      const kills = (await all('session.revoked')).length + (await all('agent.sessions_revoked')).length + (await all('subject.sessions_revoked')).length;
      const findings = ((await get('/admin/access-review')).body.agents as { findings: unknown[] }[]).reduce((n, r) => n + r.findings.length, 0);
      const held = (await sts.deps.sessions.list({ agent: 'no-exchange-agent' }, 100)).length;
      expect(held).toBeGreaterThanOrEqual(2); // the two above, and the sessions test's one

      await page.getByRole('link', { name: 'Overview' }).click();
      const total = (key: string, n: number) => page.locator(`[data-total="${key}"]`).filter({ hasText: new RegExp(`^${n}$`) }).waitFor();
      await total('issued', issued);
      await total('denied', denials.reduce((n, e) => n + (e.count ?? 1), 0));
      await total('kills', kills);
      await total('findings', findings);
      await total('push', 2);
      await page.locator(`[data-tile="sessions"] g.bar[data-label="no-exchange-agent"][data-value="${held}"]`).waitFor();
      const sameReason = denials.filter((e) => e.reason === reason).reduce((n, e) => n + (e.count ?? 1), 0);
      await page.locator(`[data-tile="denied"] g.bar[data-label="${reason}"][data-value="${sameReason}"]`).waitFor();
      await page.locator('[data-tile="chain"] [data-chain="ok"]').waitFor();
      await page.locator(`[data-tile="push"] li[data-server="${OTHER_API}"]`).getByText(`push healthy → ${receiver.url}`).waitFor();
      await page.locator(`[data-tile="push"] li[data-server="${API}"]`).getByText(/push failing since .* → http:\/\/127\.0\.0\.1:1\/closed/).waitFor();
      expect(await page.locator('[data-tile="issued"] svg rect[data-count]').count()).toBe(12);

      await page.locator('#delegation-form input[name="sid"]').fill(sidOf(mid));
      await page.getByRole('button', { name: 'Draw' }).click();
      const boxes = page.locator('#delegation svg g.session');
      await boxes.nth(2).waitFor();
      expect(await boxes.evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-agent'), g.getAttribute('data-depth')]).sort((a, b) => Number(a[1]) - Number(b[1]))))
        .toEqual([[CHAIN_ROOT, '0'], ['sub-agent', '1'], ['leaf-agent', '2']]);
      expect(await page.locator(`#delegation g.session.asked[data-sid="${sidOf(mid)}"]`).count()).toBe(1);
      expect(await page.locator('#delegation path.link').count()).toBe(2);
      await screenshot(page, 'overview');
      for (const rs of [API, OTHER_API]) await request(sts.app).delete(`/admin/resource-servers/${encodeURIComponent(rs)}/ssf-push`).set('Authorization', `Bearer ${token}`).expect(200);
    } finally {
      await receiver.close();
    }
  }, BROWSER_TEST_MS);

  it('agents: the access review, a secret rotation shown once, and disabling with the switch makes its sessions vanish', async () => {
    await searchSessions('billing-agent');
    await node(P).waitFor();

    await page.getByRole('link', { name: 'Agents' }).click();
    const card = page.locator('li.agent[data-agent="billing-agent"]');
    await card.getByText('owner: team-billing').waitFor();
    await card.getByRole('button', { name: 'Access review' }).click();
    await card.locator('.findings').getByText(`reports:read at ${OTHER_API}: no issuance in 30 days`).waitFor();
    const heldRow = card.locator('tbody tr').filter({ hasText: 'invoices:read' });
    expect(await heldRow.locator('td').allTextContents()).toEqual([API, 'invoices:read', '1 root, 0 delegated', expect.stringMatching(/^1 \(last /), 'used']);

    const leaf = page.locator('li.agent[data-agent="leaf-agent"]');
    await leaf.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate secret' }).click();
    const secret = (await leaf.locator('.secret code').textContent())!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const withNew = await request(sts.app).post('/token').set('Authorization', basic('leaf-agent', secret)).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(withNew.status).toBe(200);
    const withOld = await request(sts.app).post('/token').set('Authorization', basic('leaf-agent', SECRETS['leaf-agent'])).type('form')
      .send({ grant_type: 'client_credentials', resource: API, scope: 'invoices:read' });
    expect(withOld.status).toBe(401);
    await screenshot(page, 'agents');

    const toggle = card.getByRole('switch', { name: 'billing-agent enabled' });
    expect(await toggle.getAttribute('aria-checked')).toBe('true');
    await toggle.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable agent' }).click();
    await card.locator('.badge.off').waitFor();
    await page.getByText('billing-agent disabled; 1 session killed.').waitFor();
    expect(await card.getByRole('switch').getAttribute('aria-checked')).toBe('false');
    expect((await adminApi('/admin/agents/billing-agent')).body).toMatchObject({ disabled: true });
    await expectInactive(sts, tokP);

    await searchSessions('billing-agent');
    await page.getByText('No live session matches.').waitFor();
    expect(await node(P).count()).toBe(0);
    await screenshot(page, 'agent-disabled');
  }, BROWSER_TEST_MS);

  it('agents: created from the form, edited as a merge patch, deleted after the confirm dialog; the admin API shows each change', async () => {
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('button', { name: 'New agent' }).click();
    const form = page.getByRole('form', { name: 'New agent' });
    await form.getByLabel('Id', { exact: true }).fill(NEW_AGENT);
    await form.getByLabel('Owner').fill('team-console');
    await form.getByLabel('Entitlements').fill(`${API} invoices:read`);
    await form.getByRole('button', { name: 'Create agent' }).click();
    const card = page.locator(`li.agent[data-agent="${NEW_AGENT}"]`);
    const secret = (await card.locator('.secret code').textContent())!;
    expect((await adminApi(`/admin/agents/${NEW_AGENT}`)).body).toMatchObject({ owner: 'team-console', audiences: { [API]: ['invoices:read'] }, disabled: false, source: 'api' });
    const held = (await tokenFor(NEW_AGENT, secret, API, 'invoices:read')).body.access_token as string;
    await expectActive(sts, held);
    await screenshot(page, 'agent-created');

    // a value the server refuses: its 400 names the field, the form stays, nothing changed
    await card.getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('form', { name: `Edit ${NEW_AGENT}` });
    await edit.getByLabel('Delegates').fill('nobody-registered');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.getByRole('alert').filter({ hasText: 'nobody-registered' }).waitFor();
    expect((await adminApi(`/admin/agents/${NEW_AGENT}`)).body.delegates).toEqual([]);
    await edit.getByLabel('Delegates').fill('');

    // the entitlement at API replaced by one at OTHER_API: a merge patch that removes API (null), and the session holding it dies
    await edit.getByLabel('Longest token (s)').fill('120');
    await edit.getByLabel('Owner').fill('team-console-2');
    await edit.getByLabel('Entitlements').fill(`${OTHER_API} reports:read`);
    await screenshot(page, 'agent-edit');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    await page.getByText(`Agent ${NEW_AGENT} saved; 1 session holding a removed entitlement killed.`).waitFor();
    const after = (await adminApi(`/admin/agents/${NEW_AGENT}`)).body;
    expect(after).toMatchObject({ owner: 'team-console-2', maxTokenTtlSeconds: 120, audiences: { [OTHER_API]: ['reports:read'] } });
    expect(Object.keys(after.audiences)).toEqual([OTHER_API]);
    await expectInactive(sts, held);
    const updated = (await adminApi(`/admin/audit?type=agent.updated&agent=${NEW_AGENT}`)).body.events;
    expect(updated).toHaveLength(1);
    expect([...updated[0].fields].sort()).toEqual(['audiences', 'maxTokenTtlSeconds', 'owner']);

    await card.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByText(`Delete ${NEW_AGENT}?`).waitFor();
    await dialogButton('Delete agent').click();
    await card.waitFor({ state: 'detached' });
    expect((await adminApi(`/admin/agents/${NEW_AGENT}`)).status).toBe(404);
    expect((await tokenFor(NEW_AGENT, secret, OTHER_API, 'reports:read')).status).toBe(401);
  }, BROWSER_TEST_MS);

  it('resource servers: created, scopes edited, secret rotated and deleted from the page; the admin API and introspection agree', async () => {
    await page.getByRole('link', { name: 'Resource servers' }).click();
    await page.locator(`li.server[data-server="${API}"]`).waitFor();
    await page.getByRole('button', { name: 'New resource server' }).click();
    const form = page.getByRole('form', { name: 'New resource server' });
    await form.getByLabel('Id').fill(NEW_SERVER);
    await form.getByLabel('Scopes').fill('things:read things:write');
    await form.getByRole('button', { name: 'Create resource server' }).click();
    const card = page.locator(`li.server[data-server="${NEW_SERVER}"]`);
    const first = (await card.locator('.secret code').textContent())!;
    const introspect = (secret: string) => request(sts.app).post('/introspect').set('Authorization', basic(NEW_SERVER, secret)).type('form').send({ token: 'x' });
    expect((await introspect(first)).status).toBe(200);
    expect((await adminApi(`/admin/resource-servers/${encodeURIComponent(NEW_SERVER)}`)).body).toMatchObject({ scopes: ['things:read', 'things:write'] });

    await card.getByRole('button', { name: 'Edit scopes' }).click();
    const edit = page.getByRole('form', { name: `Edit ${NEW_SERVER}` });
    await edit.getByLabel('Scopes').fill('things:read');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    expect((await adminApi(`/admin/resource-servers/${encodeURIComponent(NEW_SERVER)}`)).body).toMatchObject({ scopes: ['things:read'] });

    await card.getByRole('button', { name: 'Done' }).click();
    await card.getByRole('button', { name: 'Rotate secret' }).click();
    await dialogButton('Rotate secret').click();
    const second = (await card.locator('.secret code').textContent())!;
    expect(second).not.toBe(first);
    expect((await introspect(second)).status).toBe(200);
    expect((await introspect(first)).status).toBe(401);
    await screenshot(page, 'resource-servers');

    await card.getByRole('button', { name: 'Delete' }).click();
    await dialogButton('Cancel').click(); // cancelled: nothing happens
    expect((await adminApi(`/admin/resource-servers/${encodeURIComponent(NEW_SERVER)}`)).status).toBe(200);
    await card.getByRole('button', { name: 'Delete' }).click();
    await dialogButton('Delete resource server').click();
    await card.waitFor({ state: 'detached' });
    expect((await adminApi(`/admin/resource-servers/${encodeURIComponent(NEW_SERVER)}`)).status).toBe(404);
    expect((await introspect(second)).status).toBe(401);
  }, BROWSER_TEST_MS);

  it('a killed admin token: the console lands on the login screen and holds no secret to log in again with', async () => {
    const killer = await adminToken(sts); // another admin agent, so console-admin's sessions are the console's and adminApi's
    const sessionsOfConsole = async () => (await request(sts.app).get(`/admin/sessions?agent=${CONSOLE_ADMIN}`).set('Authorization', `Bearer ${killer}`)).body.sessions as { sid: string }[];
    const before = await sessionsOfConsole();
    expect(before.length).toBeGreaterThanOrEqual(1);
    for (const { sid } of before) await request(sts.app).delete(`/admin/sessions/${sid}`).set('Authorization', `Bearer ${killer}`).expect(200);
    expect(await sessionsOfConsole()).toEqual([]);

    await page.getByRole('link', { name: 'Overview' }).click(); // the next call the console makes
    await page.getByText('Your session ended: log in again.').waitFor();
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#nav').isHidden()).toBe(true);
    expect(await page.locator('li.node, li.agent, li.server, li.record, .tile').count()).toBe(0);
    expect(await sessionsOfConsole()).toEqual([]); // no silent login with a remembered secret
  }, BROWSER_TEST_MS);

  it('reads on a phone-width screen (390×844) without horizontal overflow, the access review a word per line at most', async () => {
    await logIn(CONSOLE_ADMIN, CONSOLE_ADMIN_SECRET);
    await page.setViewportSize(PHONE);
    await page.locator('[data-tile="issued"]').waitFor();
    expect(await noOverflow()).toBe(true);
    await screenshot(page, 'phone-overview');
    await searchSessions('sub-agent');
    await page.locator('li.node').first().waitFor();
    expect(await noOverflow()).toBe(true);
    await screenshot(page, 'phone-sessions');
    await page.getByRole('link', { name: 'Agents' }).click();
    const card = page.locator('li.agent[data-agent="billing-agent"]');
    await card.getByRole('button', { name: 'Access review' }).click();
    await card.locator('.findings').waitFor();
    expect(await noOverflow()).toBe(true);
    // each cell keeps its words whole: "invoices:read" and "unused" on one line each
    const lineHeight = await card.locator('tbody td').first().evaluate((td) => parseFloat(td.ownerDocument.defaultView!.getComputedStyle(td).lineHeight));
    for (const cell of await card.locator('tbody td[data-label="Scope"], tbody td[data-label="Status"]').all()) {
      expect((await cell.boundingBox())!.height).toBeLessThan(2 * lineHeight);
    }
    await screenshot(page, 'phone-access-review');
    await page.getByRole('link', { name: 'Resource servers' }).click();
    await page.locator('li.server').first().waitFor();
    expect(await noOverflow()).toBe(true);
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.locator('li.record').first().waitFor();
    expect(await noOverflow()).toBe(true);
    await screenshot(page, 'phone-audit');
  }, BROWSER_TEST_MS);

  it('an audit filter the server refuses clears the old results, names the field, and the next good filter lists again', async () => {
    await page.setViewportSize(DESKTOP);
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.locator('li.record').first().waitFor();
    const type = page.locator('#audit-filters input[name="type"]');
    await type.fill('not a type');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#audit-list').getByText("No records: query parameter 'type' must be an event type such as token.issued").waitFor();
    expect(await page.locator('li.record').count()).toBe(0);
    expect(await type.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#status').textContent()).toContain("query parameter 'type'");
    await screenshot(page, 'audit-bad-filter');
    await type.fill('session.revoked');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('li.record[data-type="session.revoked"]').first().waitFor();
    expect(await type.getAttribute('aria-invalid')).toBeNull();
    await type.fill('');
    await type.press('Enter');
    await type.fill('not a type'); // left refused for the logout below: its status line must not survive it
    await type.press('Enter');
    await page.locator('#audit-list').getByText(/No records: /).waitFor();
  }, BROWSER_TEST_MS);

  it('logging out kills the console\'s session, forgets the token and clears every page and the status line', async () => {
    const killer = await adminToken(sts);
    const sessionsOfConsole = async () => ((await request(sts.app).get(`/admin/sessions?agent=${CONSOLE_ADMIN}`).set('Authorization', `Bearer ${killer}`)).body.sessions as { sid: string }[]).map((x) => x.sid);
    const before = await sessionsOfConsole();
    expect(await page.locator('#status').textContent()).not.toBe('');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    const after = await sessionsOfConsole();
    const ended = before.filter((sid) => !after.includes(sid));
    expect(ended).toHaveLength(1);
    expect(after.filter((sid) => !before.includes(sid))).toEqual([]);
    expect(sts.events.events.find((e) => e.type === 'session.revoked' && e.sid === ended[0])).toMatchObject({ by: CONSOLE_ADMIN, adminSid: ended[0] });
    expect(await page.locator('#status').textContent()).toBe('');
    expect(await page.locator('#nav').isHidden()).toBe(true);
    expect(await page.locator('li.node, li.agent, li.server, li.record, .tile').count()).toBe(0);
    await page.goto(`${server.url}/console/#agents`).catch(() => {});
    expect(await page.locator('#page-agents').isHidden()).toBe(true);
    await screenshot(page, 'logged-out');
  }, BROWSER_TEST_MS);

  it('a narrow admin (sessions:read only) sees only the pages its scopes can use', async () => {
    await logIn('reader-admin', SECRETS['reader-admin']!);
    for (const name of ['Overview', 'Sessions']) expect(await page.getByRole('link', { name }).isVisible()).toBe(true);
    for (const name of ['Agents', 'Resource servers', 'Audit trail']) expect(await page.getByRole('link', { name }).isHidden()).toBe(true);
    await page.locator('[data-tile="sessions"]').waitFor();
    expect(await page.locator('[data-tile="issued"], [data-tile="findings"], [data-tile="push"]').count()).toBe(0);
    await page.goto(`${server.url}/console/#audit`).catch(() => {});
    await page.locator('#page-overview').waitFor();
    expect(await page.locator('#page-audit').isHidden()).toBe(true);
    await page.goto(`${server.url}/console/#sessions`).catch(() => {});
    await page.locator('#page-sessions').waitFor();
    await page.locator('#trees li.node').first().waitFor();
    expect(await page.locator('#trees button').count()).toBe(0); // no sessions:kill, no kill buttons
    await screenshot(page, 'narrow-admin');
    const held = await sts.deps.sessions.list({ agent: 'reader-admin' }, 10);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(await sts.deps.sessions.list({ agent: 'reader-admin' }, 10)).toEqual(held); // no sessions:kill: nothing asked, it expires on its own
  }, BROWSER_TEST_MS);

  it('an admin agent with requireDpop logs in (its token bound to a key of this tab), lists sessions and kills one', async () => {
    const victim = (await clientCredentials(sts, 'outsider-agent', API, 'invoices:read')).access_token;
    const sid = sidOf(victim);
    await page.locator('#client-id').fill(DPOP_ADMIN);
    await page.locator('#client-secret').fill(DPOP_ADMIN_SECRET);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#nav').waitFor();
    expect(await page.locator('#who-name').textContent()).toBe(DPOP_ADMIN);
    const [held] = await sts.deps.sessions.list({ agent: DPOP_ADMIN }, 10);
    expect(held?.cnf?.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);

    await searchSessions('outsider-agent');
    await killButton(sid, 'outsider-agent').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Kill session' }).click();
    await node(sid).waitFor({ state: 'detached' });
    await page.getByText(`Killed 1 session under ${sid}.`).waitFor();
    await expectInactive(sts, victim);
    expect(sts.events.events.find((e) => e.type === 'session.revoked' && e.sid === sid)).toMatchObject({ by: DPOP_ADMIN });
    await screenshot(page, 'dpop-admin-killed');
    // the module's keys: a private key no script can export, a public JWK without private members
    const key = `import('${server.url}/console/dpop.js').then(async (m) => { const k = await m.newKey(); return [k.privateKey.extractable, k.privateKey.type, Object.keys(k.jwk).sort()]; })`;
    expect(await page.evaluate<unknown[]>(key)).toEqual([false, 'private', ['crv', 'kty', 'x', 'y']]);
  }, BROWSER_TEST_MS);
});
