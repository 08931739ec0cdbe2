// What every end-to-end test stands on: a headless Chromium (the system's, never a download),
// a page that fails the test on any console error or uncaught page error, signing in through
// the console's own `/?token=` link, axe-core checks, and screenshots.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

export const CONSOLE_URL = (process.env.CONSOLE_URL ?? 'http://127.0.0.1:5173').replace(/\/$/, '');
export const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';
export const SCREENSHOTS_DIR = process.env.SCREENSHOTS_DIR ?? '';
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** How long a person would wait for something to show up (the saga, the health checks). */
export const PATIENCE_MS = Number(process.env.E2E_PATIENCE_MS ?? 30_000);

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A fresh page in its own context (its own sessionStorage). Console errors and page errors are
 * collected; `assertNoErrors` fails the test with them, and the test's end checks again.
 */
export async function openPage(browser, t, { width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  let loads = 0;
  page.on('load', () => {
    loads += 1;
  });
  const assertNoErrors = () => assert.deepEqual(errors, [], `the page reported errors:\n${errors.join('\n')}`);
  t.after(async () => {
    await context.close();
  });
  return {
    page,
    assertNoErrors,
    /** Full page loads so far: a single-page app that updates in place adds none. */
    loads: () => loads,
  };
}

/** Signs in the way a link handed to a person does: `/?token=…`, which the console takes and hides. */
export async function signInWithLink(page, token) {
  assert.ok(token, 'a bearer token is needed (ADMIN_TOKEN)');
  await page.goto(`${CONSOLE_URL}/?token=${encodeURIComponent(token)}`);
  await page.getByRole('group', { name: 'Signed in as' }).waitFor();
  assert.ok(!page.url().includes('token='), `the token stays in the address bar: ${page.url()}`);
}

/** Injects axe-core and fails on any serious or critical violation of the page as it is now. */
export async function assertAccessible(page, what) {
  await page.addScriptTag({ content: axe.source });
  const violations = await page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ['violations'] });
    return results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.slice(0, 3).map((node) => node.target.join(' ')),
    }));
  });
  const serious = violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.deepEqual(
    serious,
    [],
    `${what}: accessibility violations:\n${serious.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(', ')}`).join('\n')}`,
  );
}

/** Saves a full-page screenshot as SCREENSHOTS_DIR/<name>.png when SCREENSHOTS_DIR is set. */
export async function screenshot(page, name) {
  if (!SCREENSHOTS_DIR) return;
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
}

/** Retries `check` until it passes or `timeout` runs out; the last failure is the test's. */
export async function eventually(check, { timeout = PATIENCE_MS, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }
}
