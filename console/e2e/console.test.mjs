// The console end to end, as an operator uses it against the running stack: sign in, check
// health, register a user, place an order and watch the saga approve it, look back in time,
// and find the order's events on the topic. Needs CONSOLE_URL and ADMIN_TOKEN; saves
// screenshots to SCREENSHOTS_DIR when set.
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, ORDERS_TOPIC, eventually, heading, personTest, screenshot, signInWithLink } from './support.mjs';

personTest('an operator follows a new customer’s first order through the console', {}, async (t, { page, assertNoErrors, assertPage, loads }) => {
  const stamp = Date.now();
  const email = `e2e-${stamp}@example.com`;

  await t.test('signs in as admin with the link they were given', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await heading(page, 'Health').waitFor();
    assertNoErrors();
  });

  await t.test('sees every component green on the health page', async () => {
    const components = page.getByRole('list', { name: 'Components' }).getByRole('listitem');
    await eventually(async () => {
      const count = await components.count();
      assert.ok(count > 0, 'no component is shown');
      for (let i = 0; i < count; i += 1) {
        const card = components.nth(i);
        const name = await card.getByRole('heading').innerText();
        assert.equal(await card.getByText('up', { exact: true }).count(), 1, `${name} is not up`);
      }
    });
    await screenshot(page, '01-health');
    await assertPage('Health');
  });

  let userUrl = '';
  await t.test('registers a user through the form', async () => {
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await heading(page, 'Users').waitFor();
    const form = page.getByRole('form', { name: 'Register a user' });
    await form.getByLabel('Email', { exact: false }).fill(email);
    await form.getByLabel('Name').fill('E2E Customer');
    await form.getByLabel('Credit limit (EUR)').fill('500');
    await screenshot(page, '02-register');
    await form.getByRole('button', { name: 'Register user' }).click();
    await heading(page, 'User').waitFor();
    await page.getByText(email, { exact: true }).first().waitFor();
    userUrl = page.url();
    assert.match(userUrl, /\/users\/[0-9a-f-]{36}/);
    await assertPage('User');
  });

  let orderId = '';
  const loadsBeforeOrder = loads();
  await t.test('places an order from the user page', async () => {
    const form = page.getByRole('form', { name: 'Place an order' });
    await form.getByLabel('SKU').fill('E2E-BOOK');
    await form.getByLabel('Quantity').fill('2');
    await form.getByLabel('Unit price (EUR)').fill('12.50');
    await screenshot(page, '03-place-order');
    await form.getByRole('button', { name: 'Place order' }).click();
    await heading(page, 'Order').waitFor();
    const match = /\/orders\/([0-9a-f-]{36})/.exec(page.url());
    assert.ok(match, `not an order page: ${page.url()}`);
    orderId = match[1];
    assertNoErrors();
  });

  await t.test('sees the order APPROVED without reloading the page', async () => {
    const status = page.getByRole('status', { name: 'Order status' });
    await eventually(async () => assert.equal((await status.innerText()).trim(), 'APPROVED'));
    assert.equal(loads(), loadsBeforeOrder, 'the page was reloaded');
    await screenshot(page, '04-order-approved');
    await assertPage('Order');
  });

  await t.test('reads OrderPlaced then OrderApproved in the event stream', async () => {
    const stream = page.getByRole('table', { name: 'Event stream' });
    await eventually(async () => {
      const rows = await stream.getByRole('row').allInnerTexts();
      const placed = rows.findIndex((row) => row.includes('OrderPlaced'));
      const approved = rows.findIndex((row) => row.includes('OrderApproved'));
      assert.ok(placed > 0, 'no OrderPlaced');
      assert.ok(approved > placed, 'OrderApproved does not follow OrderPlaced');
    });
    const follow = stream.getByRole('link', { name: /^Follow correlation / }).first();
    const correlationId = (await follow.innerText()).trim();
    assert.match(correlationId, /\S/, 'the correlation id is empty');
    assert.equal(await follow.getAttribute('aria-label'), `Follow correlation ${correlationId}`);
    assert.equal(await follow.getAttribute('href'), `/follow/${correlationId}`);
  });

  await t.test('travels back to version 1 and sees the order PENDING', async () => {
    await page.getByLabel('Version', { exact: true }).fill('1');
    const state = page.getByRole('region', { name: 'State at version 1' });
    await state.waitFor();
    assert.match(await state.innerText(), /"status":\s*"PENDING"/);
    await screenshot(page, '05-time-travel');
    assertNoErrors();
  });

  await t.test('finds the order’s events in a tail of the orders topic', async () => {
    await page.getByRole('link', { name: 'Topics', exact: true }).click();
    await heading(page, 'Topics').waitFor();
    await page.getByRole('table', { name: 'Topics' }).getByText(ORDERS_TOPIC, { exact: true }).waitFor();
    const form = page.getByRole('form', { name: 'Tail a topic' });
    await form.getByLabel('Topic').selectOption(ORDERS_TOPIC);
    await form.getByLabel('Key').fill(orderId);
    await form.getByLabel('Replay per partition').fill('200');
    await form.getByRole('button', { name: 'Start tail' }).click();
    const records = page.getByRole('list', { name: 'Tailed records' });
    await records.getByText('OrderPlaced', { exact: true }).waitFor();
    await records.getByRole('link', { name: orderId }).first().waitFor();
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    await screenshot(page, '06-topics-tail');
    await assertPage('Topics');
  });
});
