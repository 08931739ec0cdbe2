// The console's front door, which needs no gateway behind it: the sign-in page renders,
// is accessible, and asks for a token. Needs CONSOLE_URL (any server of the built console).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CONSOLE_URL, assertAccessible, launchBrowser, openPage, screenshot } from './support.mjs';

const skip = process.env.CONSOLE_URL ? false : 'set CONSOLE_URL to run against a served console';

let browser;
before(async () => {
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('a person without a session is asked for a bearer token', { skip }, async (t) => {
  const { page, assertNoErrors } = await openPage(browser, t);
  await page.goto(`${CONSOLE_URL}/operations`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  const token = page.getByLabel('Bearer token');
  assert.equal(await token.getAttribute('type'), 'password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Paste the bearer token (a JWT) you were given.').waitFor();
  await screenshot(page, '00-sign-in');
  await assertAccessible(page, 'Sign in');
  assertNoErrors();
});
