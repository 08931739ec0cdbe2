// A customer uses the console with the link they were given: their own account and orders,
// nothing of the operators' pages, nothing of another customer. Needs CONSOLE_URL,
// CUSTOMER_TOKEN, CUSTOMER_USER_ID, OTHER_USER_ID, OTHER_ORDER_ID and ADMIN_TOKEN (to learn
// what the other customer is called, so the test knows what must not show).
import assert from 'node:assert/strict';
import {
  ADMIN_TOKEN,
  CONSOLE_URL,
  CUSTOMER_TOKEN,
  CUSTOMER_USER_ID,
  OTHER_ORDER_ID,
  OTHER_USER_ID,
  eventually,
  graphql,
  heading,
  pageText,
  personTest,
  screenshot,
  signInWithLink,
} from './support.mjs';

const PEOPLE = `
  query People($customer: UUID!, $other: UUID!, $order: UUID!) {
    customer: user(id: $customer) { id email name }
    other: user(id: $other) { id email name }
    othersOrder: order(id: $order) { id userId status }
  }
`;

const needs = ['ADMIN_TOKEN', 'CUSTOMER_TOKEN', 'CUSTOMER_USER_ID', 'OTHER_USER_ID', 'OTHER_ORDER_ID'];

personTest('a customer sees their own account and orders, and nobody else’s', { needs }, async (t, session) => {
  const { page, assertNoErrors, assertPage, loads } = session;
  const { data: people } = await graphql(ADMIN_TOKEN, PEOPLE, {
    customer: CUSTOMER_USER_ID,
    other: OTHER_USER_ID,
    order: OTHER_ORDER_ID,
  });
  const { customer, other, othersOrder } = people;
  assert.ok(customer && other, 'the harness registered both customers');
  assert.notEqual(customer.name, other.name, 'the two customers need names of their own');
  assert.equal(othersOrder.userId, OTHER_USER_ID);
  const navigation = page.getByRole('navigation', { name: 'Main' });

  /** Nothing of the other customer is on the page: not their email, name or ids. */
  const assertNothingOfTheOther = async (where) => {
    const text = await pageText(page);
    for (const secret of [other.email, other.name, OTHER_USER_ID, othersOrder.id]) {
      assert.ok(!text.includes(secret), `${where} shows the other customer’s ${secret}`);
    }
  };

  await t.test('signs in with their link and lands on their own account', async () => {
    await signInWithLink(page, CUSTOMER_TOKEN);
    await heading(page, 'User').waitFor();
    assert.equal(new URL(page.url()).pathname, `/users/${CUSTOMER_USER_ID}`);
    const account = page.getByRole('region', { name: 'Account' });
    await account.getByText(customer.email, { exact: true }).waitFor();
    await account.getByText(customer.name, { exact: true }).waitFor();
    assert.equal((await page.getByRole('status', { name: 'User status' }).innerText()).trim(), 'ACTIVE');
    assert.equal(await page.getByRole('alert').count(), 0, `their account shows an alert: ${await pageText(page)}`);
    await assertPage('Customer account');
  });

  await t.test('finds only their account and orders in the navigation', async () => {
    const links = (await navigation.getByRole('link').allInnerTexts()).map((text) => text.trim());
    assert.deepEqual(links.slice(0, 2), ['My account', 'My orders']);
    for (const staffOnly of ['Health', 'Users', 'Orders', 'Topics', 'Operations']) {
      assert.ok(!links.includes(staffOnly), `${staffOnly} is offered: ${links.join(', ')}`);
      assert.equal(await page.getByRole('link', { name: staffOnly, exact: true }).count(), 0, `${staffOnly} is offered`);
    }
    assert.equal(
      await navigation.getByRole('link', { name: 'My account' }).getAttribute('href'),
      `/users/${CUSTOMER_USER_ID}`,
    );
  });

  await t.test('is told that /health is not for them', async () => {
    await page.goto(`${CONSOLE_URL}/health`);
    await heading(page, 'Not allowed').waitFor();
    await page.getByText('it is for administrators', { exact: false }).waitFor();
    assert.equal(await page.getByRole('list', { name: 'Components' }).count(), 0, 'the health report is shown');
    await assertPage('Not allowed');
  });

  for (const [noun, id, path, extra] of [
    ['user', OTHER_USER_ID, '/users', async () => assert.equal(await page.getByRole('table').count(), 0, 'a table of someone’s data')],
    ['order', OTHER_ORDER_ID, '/orders', async () => assert.equal(await page.getByRole('status', { name: 'Order status' }).count(), 0, 'an order status')],
  ]) {
    await t.test(`finds no other customer’s ${noun} at ${path}/<its id>`, async () => {
      await page.goto(`${CONSOLE_URL}${path}/${id}`);
      await heading(page, 'Not found').waitFor();
      const notFound = `There is no ${noun} ${id} that you may see.`;
      await page.getByText(notFound).waitFor();
      // The page settles (no late answer fills it in) before it is read.
      await page.waitForLoadState('networkidle');
      const text = (await pageText(page)).replaceAll(notFound, '');
      for (const secret of [other.email, other.name, OTHER_USER_ID, othersOrder.id]) {
        assert.ok(!text.includes(secret), `the page shows the other customer’s ${secret}`);
      }
      await extra();
      await assertPage(`Another customer’s ${noun}`);
    });
  }

  let loadsBeforeOrder = 0;
  await t.test('places an order for themselves from their account', async () => {
    await navigation.getByRole('link', { name: 'My account' }).click();
    await heading(page, 'User').waitFor();
    await page.getByRole('region', { name: 'Account' }).getByText(customer.email, { exact: true }).waitFor();
    await assertNothingOfTheOther('Their account');
    loadsBeforeOrder = loads();
    const form = page.getByRole('form', { name: 'Place an order' });
    await form.getByLabel('SKU').fill('E2E-MUG');
    await form.getByLabel('Quantity').fill('3');
    await form.getByLabel('Unit price (EUR)').fill('8.40');
    await form.getByText('Total: €25.20', { exact: false }).waitFor();
    await form.getByRole('button', { name: 'Place order' }).click();
    await heading(page, 'Order').waitFor();
    assert.match(page.url(), /\/orders\/[0-9a-f-]{36}/);
    assertNoErrors();
  });

  await t.test('sees their order APPROVED without reloading the page', async () => {
    const status = page.getByRole('status', { name: 'Order status' });
    await eventually(async () => assert.equal((await status.innerText()).trim(), 'APPROVED'));
    assert.equal(loads(), loadsBeforeOrder, 'the page was reloaded');
    const order = page.getByRole('region', { name: 'Order' });
    await order.getByRole('link', { name: `${customer.name} (${customer.email})` }).waitFor();
    assert.equal(await page.getByRole('region', { name: 'Sagas' }).count(), 0, 'a customer is shown the sagas');
    assert.equal(await page.getByRole('alert').count(), 0, `their order shows an alert: ${await pageText(page)}`);
    await assertNothingOfTheOther('Their order');
    await screenshot(page, '08-customer-order-approved');
    await assertPage('Customer order');
  });

  await t.test('finds the order among their orders, and only theirs', async () => {
    await navigation.getByRole('link', { name: 'My orders' }).click();
    await heading(page, 'Orders').waitFor();
    const table = page.getByRole('table', { name: 'Orders' });
    await eventually(async () => assert.ok((await table.getByRole('row').count()) >= 2, 'no order is listed'));
    await assertNothingOfTheOther('Their orders');
    await assertPage('Customer orders');
  });
});
