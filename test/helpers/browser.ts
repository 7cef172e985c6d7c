import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium: CI installs it (.ci/run); playwright-core downloads no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
/** Bound on every wait for the page (auto-waiting locators): well under the test's own timeout. */
export const UI_TIMEOUT_MS = 10_000;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
/** Where screenshots go: test-output/console, or CONSOLE_SCREENSHOT_DIR (docs/console.md makes the committed ones so). */
export const SCREENSHOT_DIR = path.resolve(process.env.CONSOLE_SCREENSHOT_DIR ?? path.join('test-output', 'console'));

export interface Browser {
  context: BrowserContext;
  /** The persistent context's first page (the window it opened with). */
  page: Page;
  close(): Promise<void>;
}

/** Headless chromium with a fresh profile; fails (never skips) when the binary is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run installs it)`);
  }
  const profile = mkdtempSync(path.join(tmpdir(), 'agent-sts-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: DESKTOP });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  return {
    context,
    page: context.pages()[0] ?? (await context.newPage()),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Errors the page logged (a CSP violation is one) or threw. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}
