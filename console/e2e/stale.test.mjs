// Two operators change the same user. The one whose page shows an older version is told the
// user moved on, sees the change behind the dialog, and applies theirs on top of it: every
// command of the console is sent at the version its page shows (If-Match), as the README's
// walk-through does with curl. Needs CONSOLE_URL and ADMIN_TOKEN.
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, CONSOLE_URL, graphql, heading, personTest, screenshot, signInWithLink } from './support.mjs';

personTest('an operator renaming a user someone else just renamed is told, and renames on top', {}, async (t, { page, assertPage }) => {
  const registered = await graphql(
    ADMIN_TOKEN,
    'mutation($input: RegisterUserInput!) { registerUser(input: $input) { id version } }',
    { input: { email: `stale-${Date.now()}@example.com`, name: 'First Name', creditLimitCents: 10_000 } },
  );
  const id = registered.data.registerUser.id;
  const dialog = page.getByRole('dialog', { name: 'Rename user' });

  await t.test('opens the user at version 1', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await page.goto(`${CONSOLE_URL}/users/${id}?minVersion=1`);
    await heading(page, 'User').waitFor();
    await page.getByText('First Name', { exact: true }).first().waitFor();
  });

  await t.test('someone else renames the user meanwhile', async () => {
    const renamed = await graphql(
      ADMIN_TOKEN,
      'mutation($id: UUID!) { renameUser(id: $id, name: "Second Name", expectedVersion: 1) { version } }',
      { id },
    );
    assert.equal(renamed.data.renameUser.version, 2);
  });

  await t.test('a rename from the page at version 1 is refused with why, and the page shows the change', async () => {
    await page.getByRole('button', { name: 'Rename' }).click();
    await dialog.getByLabel('Name').fill('Third Name');
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await dialog.getByText(/changed since the page showed it and is now at version 2/).waitFor();
    assert.equal(await dialog.getByLabel('Name').inputValue(), 'Third Name', 'what was typed is lost');
    await page.getByText('Second Name', { exact: true }).first().waitFor();
    await screenshot(page, '12-stale-rename');
    await assertPage('Rename refused as stale');
  });

  await t.test('submitting again renames on top of the other change', async () => {
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText('Third Name', { exact: true }).first().waitFor();
    const { data } = await graphql(ADMIN_TOKEN, 'query($id: UUID!) { user(id: $id, minVersion: 3) { name version } }', { id });
    assert.deepEqual(data.user, { name: 'Third Name', version: 3 });
  });
});
