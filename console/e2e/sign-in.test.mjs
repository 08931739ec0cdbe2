// The console's front door, which needs no gateway behind it: the sign-in page renders,
// is accessible, and asks for a token. Needs CONSOLE_URL (any server of the built console).
import assert from 'node:assert/strict';
import { CONSOLE_URL, personTest, screenshot } from './support.mjs';

personTest('a person without a session is asked for a bearer token', { needs: ['CONSOLE_URL'] }, async (t, { page, assertPage }) => {
  await page.goto(`${CONSOLE_URL}/operations`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  const token = page.getByLabel('Bearer token');
  assert.equal(await token.getAttribute('type'), 'password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Paste the bearer token (a JWT) you were given.').waitFor();
  await screenshot(page, '00-sign-in');
  await assertPage('Sign in');
});
