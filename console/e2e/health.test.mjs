// An operator watches the health page while a service goes down and comes back: the page is a
// subscription, so the card turns red and green again without a reload. Needs CONSOLE_URL,
// ADMIN_TOKEN and CONTROL_URL (the harness that kills and starts services).
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, control, eventually, heading, personTest, screenshot, signInWithLink } from './support.mjs';

const SERVICE = 'users-query';

/** What a component's card says: `up`, `behind` or `down`. */
async function lightOf(card) {
  const chips = await card.getByText(/^(up|behind|down)$/).allInnerTexts();
  assert.equal(chips.length, 1, `a card shows one light, not ${chips.length}`);
  return chips[0];
}

const needs = ['ADMIN_TOKEN', 'CONTROL_URL'];

personTest('an operator sees users-query go down and come back on the live health page', { needs }, async (t, session) => {
  const { page, assertNoErrors, assertPage, loads } = session;
  const components = page.getByRole('list', { name: 'Components' }).getByRole('listitem');
  const card = components.filter({ has: page.getByRole('heading', { name: SERVICE, exact: true }) });
  const overall = page.getByRole('status', { name: 'Overall health' });
  let stopped = false;
  t.after(async () => {
    // Whatever failed, the next tests need the service back.
    if (stopped) await control('start', SERVICE);
  });

  await t.test('signs in and sees every component green', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await heading(page, 'Health').waitFor();
    await eventually(async () => {
      const count = await components.count();
      assert.ok(count >= 5, `only ${count} components are shown`);
      for (let i = 0; i < count; i += 1) {
        const name = await components.nth(i).getByRole('heading').innerText();
        assert.equal(await lightOf(components.nth(i)), 'up', `${name} is not up`);
      }
      assert.equal((await overall.innerText()).trim(), 'up', 'the overall light is not green');
    });
    // Consistency at a glance: where the event store ends, and each consumer's checkpoint
    // against the topic's end.
    const stages = page.getByRole('list', { name: 'users pipeline' }).getByRole('listitem');
    await eventually(async () => {
      const text = (await stages.allInnerTexts()).map((stage) => stage.replace(/\s+/g, ' '));
      assert.equal(text.length, 4, `store, outbox, topic and users-query: ${text}`);
      assert.match(text[0], /head at position [1-9]/, `no event store head: ${text[0]}`);
      assert.match(text[1], /0 waiting/, `the outbox is not empty: ${text[1]}`);
      const end = /end offset ([\d,]+)/.exec(text[2])?.[1];
      assert.ok(end && end !== '0', `no end offset: ${text[2]}`);
      assert.match(text[3], new RegExp(`at ${end} of ${end} lag 0, parked 0`), `users-query is not at the end: ${text[3]}`);
    });
    await assertPage('Health, all up');
  });

  const loadsBefore = loads();
  await t.test(`sees ${SERVICE} turn red once it is killed`, async () => {
    stopped = true;
    await control('kill', SERVICE);
    await eventually(async () => assert.equal(await lightOf(card), 'down', `${SERVICE} is not shown down`));
    await eventually(async () => assert.notEqual((await overall.innerText()).trim(), 'up', 'the overall light stays green'));
    assert.match(await card.innerText(), /not answering/, 'the card does not say why');
    assert.equal(loads(), loadsBefore, 'the page was reloaded');
    await screenshot(page, '09-health-users-query-down');
    await assertPage(`Health, ${SERVICE} down`);
  });

  await t.test(`sees ${SERVICE} green again once it is started`, async () => {
    await control('start', SERVICE);
    stopped = false;
    await eventually(async () => assert.equal(await lightOf(card), 'up', `${SERVICE} is not shown up again`));
    assert.equal(loads(), loadsBefore, 'the page was reloaded');
    assertNoErrors();
  });
});
