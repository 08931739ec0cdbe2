// An operator who uses no mouse registers a user from the keyboard alone, and the service's
// answer to an invalid email lands on the Email field. Needs CONSOLE_URL and ADMIN_TOKEN.
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, CONSOLE_URL, graphql, heading, personTest, screenshot, signInWithLink, tabTo } from './support.mjs';

const USERS_NAMED = `
  query UsersNamed($prefix: String!) {
    users(namePrefix: $prefix, first: 10) { items { id } }
  }
`;

personTest('an operator registers a user with the keyboard only and is told the email is invalid', {}, async (t, session) => {
  const { page, assertNoErrors, assertPage } = session;
  const name = `Keyboard ${Date.now()}`;
  const form = page.getByRole('form', { name: 'Register a user' });
  const email = form.getByRole('textbox', { name: /^Email/ });

  await t.test('opens the Users page', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await page.goto(`${CONSOLE_URL}/users`);
    await heading(page, 'Users').waitFor();
    await page.getByRole('table', { name: 'Users' }).getByRole('link').first().waitFor();
    assertNoErrors();
  });

  let answer;
  await t.test('tabs to Email, types the form in and submits it with Enter', async () => {
    await tabTo(page, email);
    await page.keyboard.type('not-an-email');
    await page.keyboard.press('Tab');
    assert.ok(await form.getByRole('textbox', { name: /^Name/ }).evaluate((field) => field === document.activeElement), 'Tab does not go on to Name');
    await page.keyboard.type(name);
    await page.keyboard.press('Tab');
    assert.ok(
      await form.getByRole('textbox', { name: /^Credit limit \(EUR\)/ }).evaluate((field) => field === document.activeElement),
      'Tab does not go on to Credit limit',
    );
    await page.keyboard.type('250');
    const response = page.waitForResponse(
      (candidate) => candidate.url().endsWith('/graphql') && (candidate.request().postData() ?? '').includes('registerUser'),
    );
    await page.keyboard.press('Enter');
    answer = await (await response).json();
    assertNoErrors();
  });

  await t.test('reads the service’s validation error on the Email field', async () => {
    const fields = (answer.errors ?? []).flatMap((error) => error.extensions?.fields ?? []);
    const problem = fields.find((field) => field.field === 'email');
    assert.ok(problem, `the service did not refuse the email: ${JSON.stringify(answer)}`);
    await page.waitForFunction(
      (field) => field.getAttribute('aria-invalid') === 'true',
      await email.elementHandle(),
    );
    const description = await email.evaluate((field) =>
      (field.getAttribute('aria-describedby') ?? '')
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent ?? '')
        .join(' ')
        .trim(),
    );
    assert.equal(description, problem.message, 'the Email field does not say what the service said');
    assert.ok(await email.evaluate((field) => field === document.activeElement), 'the focus is not taken to the Email field');
    assert.equal(await form.getByRole('textbox', { name: /^Name/ }).getAttribute('aria-invalid'), 'false');
    assert.equal(new URL(page.url()).pathname, '/users', 'the page moved on as if the user was registered');
    await screenshot(page, '10-keyboard-invalid-email');
    await assertPage('Register form with an invalid email');
  });

  await t.test('nothing was registered', async () => {
    const { data } = await graphql(ADMIN_TOKEN, USERS_NAMED, { prefix: name });
    assert.deepEqual(data.users.items, []);
  });
});
