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
import { ADMIN_AUD, adminToken, API, basic, clientCredentials, exchange, OTHER_API, SECRETS, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

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

describe('the admin console (/console) in headless Chromium', () => {
  let sts: TestSts;
  let server: { url: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let errors: string[] = []; // stays empty when the browser never launched, so only the launch error is reported
  // billing-agent's root P → sub-agent's C → leaf-agent's L: the tree the console shows and kills from
  let tokP: string, tokC: string, tokL: string;
  let P: string, C: string, L: string;

  const adminApi = async (path: string) => {
    const token = await request(sts.app).post('/token').set('Authorization', basic(CONSOLE_ADMIN, CONSOLE_ADMIN_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: ADMIN_SCOPES.join(' ') });
    return request(sts.app).get(path).set('Authorization', `Bearer ${token.body.access_token}`);
  };
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
      registry: testRegistry({
        agents: [
          { id: CONSOLE_ADMIN, owner: 'platform', secretHash: hashSecret(CONSOLE_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } },
          { id: DPOP_ADMIN, owner: 'platform', secretHash: hashSecret(DPOP_ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] }, requireDpop: true },
        ],
      }),
    });
    tokP = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read invoices:write')).access_token;
    tokC = await ok(exchange(sts, 'sub-agent', tokP, API, 'invoices:read'));
    tokL = await ok(exchange(sts, 'leaf-agent', tokC, API, 'invoices:read'));
    [P, C, L] = [tokP, tokC, tokL].map(sidOf) as [string, string, string];
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    errors = pageErrors(page);
  }, BROWSER_TEST_MS);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await sts?.close();
  });
  afterEach(() => {
    // CSP violations and script errors surface here; a refused login's 401 is the one expected network error
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
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
    await page.getByRole('heading', { name: 'Live sessions' }).waitFor();
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

  it('a killed admin token: the console logs in again with the credentials it holds in memory and carries on', async () => {
    const killer = await adminToken(sts); // another admin agent, so console-admin's sessions are the console's and adminApi's
    const sessionsOfConsole = async () => (await request(sts.app).get(`/admin/sessions?agent=${CONSOLE_ADMIN}`).set('Authorization', `Bearer ${killer}`)).body.sessions as { sid: string }[];
    const before = await sessionsOfConsole();
    expect(before.length).toBeGreaterThanOrEqual(1);
    for (const { sid } of before) await request(sts.app).delete(`/admin/sessions/${sid}`).set('Authorization', `Bearer ${killer}`).expect(200);
    expect(await sessionsOfConsole()).toEqual([]);

    const fresh = (await clientCredentials(sts, 'sub-agent', API, 'invoices:read')).access_token;
    await searchSessions('sub-agent');
    await node(sidOf(fresh)).waitFor();
    expect(await page.locator('#login').isHidden()).toBe(true);
    expect(await sessionsOfConsole()).toHaveLength(1); // the console's new token
  }, BROWSER_TEST_MS);

  it('reads on a phone-width screen (390×844) without horizontal overflow', async () => {
    await page.setViewportSize(PHONE);
    await searchSessions('sub-agent');
    await page.locator('li.node').first().waitFor();
    expect(await noOverflow()).toBe(true);
    await screenshot(page, 'phone-sessions');
    await page.getByRole('link', { name: 'Agents' }).click();
    const card = page.locator('li.agent[data-agent="billing-agent"]');
    await card.getByRole('button', { name: 'Access review' }).click();
    await card.locator('.findings').waitFor();
    expect(await noOverflow()).toBe(true);
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.locator('li.record').first().waitFor();
    expect(await noOverflow()).toBe(true);
    await screenshot(page, 'phone-audit');
  }, BROWSER_TEST_MS);

  it('logging out forgets the token and clears every page', async () => {
    await page.setViewportSize(DESKTOP);
    await searchSessions('sub-agent');
    await page.locator('li.node').first().waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(await page.locator('#nav').isHidden()).toBe(true);
    expect(await page.locator('li.node, li.agent, li.record').count()).toBe(0);
    await page.goto(`${server.url}/console/#agents`).catch(() => {});
    expect(await page.locator('#page-agents').isHidden()).toBe(true);
    await screenshot(page, 'logged-out');
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
