import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import request from 'supertest';
import { hashSecret } from '../../src/clients/secret.js';
import { ADMIN_SCOPES } from '../../src/clients/types.js';
import { launchChromium, pageErrors, screenshot, type Browser } from '../helpers/browser.js';
import { listen } from '../helpers/http.js';
import { ADMIN_AUD, API, basic, OTHER_API, startSts, testRegistry, type TestSts } from '../helpers/sts.js';

/**
 * The console's API enforcement page in headless Chromium: each resource server's last probe,
 * verdict and age, and its findings, as the admin API keeps them (the report is posted as
 * `agent-sts probe` posts it; the probe itself runs in test/integration/probe.test.ts).
 */
const ADMIN = 'console-probe-admin';
const ADMIN_SECRET = 'console-probe-admin-secret-0123456789ab';
const BROWSER_TEST_MS = 60_000;

describe('the console shows each resource server\'s last enforcement probe', () => {
  let sts: TestSts;
  let server: { url: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  let errors: string[] = [];

  beforeAll(async () => {
    server = await listen((req, res) => sts.app(req, res));
    sts = await startSts({
      live: true, issuer: server.url,
      registry: testRegistry({ agents: [{ id: ADMIN, owner: 'platform', secretHash: hashSecret(ADMIN_SECRET), audiences: { [ADMIN_AUD]: [...ADMIN_SCOPES] } }] }),
    });
    browser = await launchChromium();
    page = browser.page;
    errors = pageErrors(page);
  }, BROWSER_TEST_MS);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await sts?.close();
  });

  it('a kill-blind API shows its verdict, age and finding; one never probed says so', async () => {
    const token = (await request(sts.app).post('/token').set('Authorization', basic(ADMIN, ADMIN_SECRET)).type('form')
      .send({ grant_type: 'client_credentials', resource: ADMIN_AUD, scope: 'agents:manage' })).body.access_token as string;
    const now = new Date().toISOString();
    const posted = await request(sts.app).post(`/admin/resource-servers/${encodeURIComponent(API)}/probes`).set('Authorization', `Bearer ${token}`).send({
      resourceServer: API, target: `${API}/authz`, scope: 'invoices:read', dpop: false, verdict: 'kill_blind', killLatencyMs: null, killWaitMs: 10_000,
      startedAt: now, finishedAt: now,
      cases: [{ id: 'baseline', outcome: 'pass', status: 200, challenge: null }, { id: 'killed', outcome: 'fail', status: 200, challenge: null, latencyMs: null }],
    });
    expect(posted.status).toBe(201);

    await page.goto(`${server.url}/console/#probes`);
    await page.locator('#client-id').fill(ADMIN);
    await page.locator('#client-secret').fill(ADMIN_SECRET);
    await page.locator('#client-secret').press('Enter');
    await page.getByRole('heading', { name: 'API enforcement' }).waitFor();
    const api = page.locator(`tr[data-resource-server="${API}"]`);
    await api.waitFor();
    expect(await api.locator('[data-field="verdict"]').textContent()).toBe('kill-blind: kills not seen');
    expect(await api.locator('[data-field="age"]').textContent()).toMatch(/^\d+ s$/);
    expect(await api.locator('[data-kind="resource_server_not_enforcing"]').textContent()).toMatch(/kill_blind, failed killed$/);
    const other = page.locator(`tr[data-resource-server="${OTHER_API}"]`);
    expect(await other.locator('[data-field="verdict"]').textContent()).toBe('never probed');
    expect(await other.locator('[data-kind="unprobed_resource_server"]').count()).toBe(1);
    await screenshot(page, 'probes');

    // logged out, nothing of it stays in the page
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor(); // logout ends the session at the server first
    expect(await page.locator('#probes').innerHTML()).toBe('');
    expect(errors).toEqual([]);
  }, BROWSER_TEST_MS);
});
