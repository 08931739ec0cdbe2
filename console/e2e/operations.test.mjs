// An operator rebuilds the users read model from the Operations page and follows its progress
// live. Needs CONSOLE_URL and ADMIN_TOKEN; saves screenshots to SCREENSHOTS_DIR when set.
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, assertAccessible, eventually, graphql, heading, personTest, screenshot, signInWithLink } from './support.mjs';

const USERS = 30;

const REGISTER = `
  mutation Register($input: RegisterUserInput!) {
    registerUser(input: $input) { id version }
  }
`;

const USERS_NAMED = `
  query UsersNamed($prefix: String!) {
    users(namePrefix: $prefix, first: 100) { items { id name } }
  }
`;

const LATEST_REBUILD = `
  query LatestRebuild {
    projections { service rebuild { state applied total startedAt } }
  }
`;

personTest('an operator rebuilds the users-query projection and watches it finish', {}, async (t, session) => {
  const { page, assertNoErrors, assertPage } = session;
  const prefix = `Rebuild ${Date.now()}`;
  const startedAfter = new Date();

  await t.test(`the stack has ${USERS} more users to replay`, async () => {
    for (let batch = 0; batch < USERS; batch += 6) {
      await Promise.all(
        Array.from({ length: Math.min(6, USERS - batch) }, (_, i) =>
          graphql(ADMIN_TOKEN, REGISTER, {
            input: {
              email: `rebuild-${Date.now()}-${batch + i}@example.com`,
              name: `${prefix} ${batch + i}`,
              creditLimitCents: 10_000 + batch + i,
            },
          }),
        ),
      );
    }
    await eventually(async () => {
      const { data } = await graphql(ADMIN_TOKEN, USERS_NAMED, { prefix });
      assert.equal(data.users.items.length, USERS, 'the read model does not have every new user yet');
    });
  });

  const card = page.getByRole('article', { name: 'users-query' });
  await t.test('opens Operations and asks for a rebuild of users-query', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click();
    await heading(page, 'Operations').waitFor();
    await card.getByRole('button', { name: 'Rebuild', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Rebuild users-query?' });
    await dialog.waitFor();
    await assertAccessible(page, 'Rebuild confirmation');
    await dialog.getByRole('button', { name: 'Start rebuild' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assertNoErrors();
  });

  await t.test('follows the progress bar until the rebuild is done', async () => {
    const bar = card.getByRole('progressbar', { name: 'Rebuild of users-query' });
    await bar.waitFor();
    const done = card.getByText(/^Rebuilt and switched in/);
    await done.waitFor();
    assert.equal(await bar.getAttribute('aria-valuenow'), '100', 'a finished rebuild shows a full bar');
    const { data } = await graphql(ADMIN_TOKEN, LATEST_REBUILD);
    const rebuild = data.projections.find((projection) => projection.service === 'USERS_QUERY').rebuild;
    assert.equal(rebuild.state, 'succeeded');
    assert.ok(new Date(rebuild.startedAt) >= new Date(startedAfter.getTime() - 1000), `not this rebuild: ${rebuild.startedAt}`);
    assert.ok(rebuild.applied >= USERS, `the rebuild replayed ${rebuild.applied} events`);
    assert.equal(await done.innerText(), `Rebuilt and switched in: ${rebuild.applied.toLocaleString('en-US')} events replayed.`);
    assert.ok(
      await card.getByRole('button', { name: 'Rebuild', exact: true }).isEnabled(),
      'Rebuild stays disabled once the rebuild is done',
    );
    await screenshot(page, '11-operations-rebuild');
    await assertPage('Operations after the rebuild');
  });

  await t.test('finds every new user in the rebuilt read model', async () => {
    const { data } = await graphql(ADMIN_TOKEN, USERS_NAMED, { prefix });
    assert.equal(data.users.items.length, USERS);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await heading(page, 'Users').waitFor();
    const search = page.getByRole('search', { name: 'Find users' });
    await search.getByLabel('Name starts with').fill(prefix);
    await search.getByRole('button', { name: 'Search' }).click();
    const table = page.getByRole('table', { name: 'Users' });
    const rows = table.getByRole('link', { name: new RegExp(`^${prefix} \\d+$`) });
    await eventually(async () => assert.equal(await rows.count(), 20, 'a first page of 20'));
    await table.getByRole('button', { name: 'Load more' }).click();
    await eventually(async () => assert.equal(await rows.count(), USERS));
    assertNoErrors();
  });
});
