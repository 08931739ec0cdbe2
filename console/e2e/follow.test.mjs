// Following one request through the pipeline, as an operator does when an order seems slow:
// from the command's correlation id to every event it caused, each event's hops (event
// store, outbox, topic, read model, saga steps) with their times, and the hop it waits at.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ADMIN_TOKEN,
  assertAccessible,
  eventually,
  graphql,
  heading,
  launchBrowser,
  openPage,
  screenshot,
  signInWithLink,
} from './support.mjs';

const skip = ADMIN_TOKEN ? false : 'set ADMIN_TOKEN (and CONSOLE_URL) to run against the stack';

let browser;
before(async () => {
  if (!skip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('an operator follows a placed order down to the saga’s approval', { skip }, async (t) => {
  const { page, assertNoErrors } = await openPage(browser, t);
  const registered = await graphql(
    ADMIN_TOKEN,
    'mutation($input: RegisterUserInput!) { registerUser(input: $input) { id } }',
    { input: { email: `follow-${Date.now()}@example.com`, name: 'Followed Customer', creditLimitCents: 100_000 } },
  );
  const placed = await graphql(
    ADMIN_TOKEN,
    'mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id correlationId } }',
    { input: { userId: registered.data.registerUser.id, items: [{ sku: 'FOLLOW-ME', quantity: 1, unitPriceCents: 990 }] } },
  );
  const { correlationId } = placed.data.placeOrder;
  assert.ok(correlationId, 'the command answered a correlation id');

  await t.test('signs in and opens Follow from the navigation', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await page.getByRole('link', { name: 'Follow', exact: true }).click();
    await heading(page, 'Follow').waitFor();
  });

  await t.test('pastes the correlation id and sees every hop done, with times', async () => {
    await page.getByLabel('Correlation id').fill(correlationId);
    await page.getByRole('button', { name: 'Follow', exact: true }).click();
    const outcome = page.getByRole('status', { name: 'Follow outcome' });
    await eventually(async () => assert.match(await outcome.innerText(), /Every hop is done/));
    const placedHops = page.getByRole('list', { name: 'Hops of OrderPlaced' });
    for (const hop of ['event store', 'outbox', 'orders-query', 'saga place-order', 'saga: reserve-credit', 'saga: approve-order']) {
      const row = placedHops.getByRole('listitem').filter({ hasText: hop });
      assert.ok((await row.count()) >= 1, `no ${hop} hop`);
      assert.match(await row.first().innerText(), /done/, `${hop} is not done`);
    }
    assert.match(await placedHops.innerText(), /partition \d+ offset \d+/, 'the topic hop names no partition and offset');
    assert.match(await placedHops.innerText(), /\+\d[\d,]* ms/, 'no hop shows its time');
    // The saga's calls carry the same correlation id: the reservation and the approval follow.
    await page.getByRole('list', { name: 'Hops of UserCreditReserved' }).waitFor();
    await page.getByRole('list', { name: 'Hops of OrderApproved' }).waitFor();
    await screenshot(page, '07-follow');
    await assertAccessible(page, 'Follow');
    assertNoErrors();
  });

  await t.test('a correlation id nothing carries is said to be unknown', async () => {
    await page.getByLabel('Correlation id').fill('nothing-carries-this');
    await page.getByRole('button', { name: 'Follow', exact: true }).click();
    await page.getByText('No event carries this correlation id (yet).').waitFor();
    assertNoErrors();
  });
});
