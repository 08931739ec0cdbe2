// What every end-to-end test stands on: a headless Chromium (the system's, never a download),
// a page that fails the test on any console error or uncaught page error, signing in through
// the console's own `/?token=` link, axe-core checks, screenshots, and the stack itself (its
// GraphQL API, the harness that stops and starts services).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

export const CONSOLE_URL = (process.env.CONSOLE_URL ?? 'http://127.0.0.1:5173').replace(/\/$/, '');
export const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';
/** A customer's token (role CUSTOMER, subject CUSTOMER_USER_ID: a user with 1000 EUR of credit). */
export const CUSTOMER_TOKEN = process.env.CUSTOMER_TOKEN ?? '';
export const CUSTOMER_USER_ID = process.env.CUSTOMER_USER_ID ?? '';
/** Another customer and their APPROVED order: what CUSTOMER_TOKEN must never see. */
export const OTHER_USER_ID = process.env.OTHER_USER_ID ?? '';
export const OTHER_ORDER_ID = process.env.OTHER_ORDER_ID ?? '';
/** The harness's control endpoint: `POST /kill/<service>`, `POST /start/<service>`. */
export const CONTROL_URL = (process.env.CONTROL_URL ?? '').replace(/\/$/, '');
/** The deployment's topics (the test stack's have names of their own). */
export const USERS_TOPIC = process.env.USERS_TOPIC ?? 'users.events';
export const ORDERS_TOPIC = process.env.ORDERS_TOPIC ?? 'orders.events';
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

/** Why a test is skipped: `false` when every variable named is set, otherwise which are missing. */
export function needs(...variables) {
  const missing = variables.filter((name) => !process.env[name]);
  return missing.length === 0 ? false : `set ${missing.join(', ')} to run it`;
}

/** The one Chromium of a test file, launched by its first test and closed after its last. */
let browser;
after(async () => {
  await (await browser)?.close();
});

/**
 * A person's test: skipped unless every variable in `needs` is set (by default ADMIN_TOKEN);
 * `steps(t, session)` gets the test's context and a fresh page (see `openPage`) of the
 * `viewport` given.
 */
export function personTest(name, { needs: variables = ['ADMIN_TOKEN'], viewport } = {}, steps) {
  test(name, { skip: needs(...variables) }, async (t) => {
    browser ??= launchBrowser();
    await steps(t, await openPage(await browser, t, viewport));
  });
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
    const reported = [...errors];
    await context.close();
    assert.deepEqual(reported, [], `the page reported errors:\n${reported.join('\n')}`);
  });
  return {
    page,
    assertNoErrors,
    /** The page as it is now has no serious accessibility violation, and reported no error. */
    assertPage: async (what) => {
      await assertAccessible(page, what);
      assertNoErrors();
    },
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

/** The page's one h1, by its exact name. */
export const heading = (page, name) => page.getByRole('heading', { level: 1, name, exact: true });

/** The visible text of the whole page, for what must (not) be on it. */
export const pageText = (page) => page.locator('body').innerText();

/**
 * Calls the gateway's GraphQL API the way a script would (not through the page); fails the
 * test on any GraphQL error unless `allowErrors`, and answers `{ data, errors }`.
 */
export async function graphql(token, query, variables = {}, { allowErrors = false } = {}) {
  const response = await fetch(`${CONSOLE_URL}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  assert.equal(response.status, 200, `POST /graphql answered ${response.status}`);
  const body = await response.json();
  if (!allowErrors) assert.deepEqual(body.errors ?? [], [], `GraphQL errors for ${query.trim().split('\n')[0]}`);
  return body;
}

/** Kills (`kill -9`) or starts one service of the stack through the harness; answers once done. */
export async function control(action, service) {
  assert.ok(CONTROL_URL, 'CONTROL_URL is needed to stop and start services');
  const response = await fetch(`${CONTROL_URL}/${action}/${service}`, { method: 'POST' });
  assert.equal(response.status, 200, `${action} ${service}: the harness answered ${response.status}`);
}

/** Focuses the next element with Tab, up to `limit` times, until `target` has the focus. */
export async function tabTo(page, target, { limit = 80 } = {}) {
  const handle = await target.elementHandle();
  for (let presses = 0; presses < limit; presses += 1) {
    if (await handle.evaluate((element) => element === document.activeElement)) return presses;
    await page.keyboard.press('Tab');
  }
  assert.fail(`${limit} presses of Tab never reached the field`);
}
