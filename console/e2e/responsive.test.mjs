// The console on a phone (390 × 844): the navigation folds into a menu button, and every page
// still fits the screen and works. Needs CONSOLE_URL and ADMIN_TOKEN.
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, assertAccessible, eventually, heading, personTest, screenshot, signInWithLink } from './support.mjs';

const PHONE = { width: 390, height: 844 };

/** Nothing is wider than the screen: the page never scrolls sideways (tables scroll inside). */
async function assertFitsTheScreen(page, what) {
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    screen: document.documentElement.clientWidth,
  }));
  assert.ok(widths.page <= widths.screen, `${what} is ${widths.page}px wide on a ${widths.screen}px screen`);
}

personTest('an operator uses the console on a phone', { viewport: PHONE }, async (t, session) => {
  const { page, assertNoErrors, assertPage } = session;
  const menuButton = page.getByRole('button', { name: 'Open navigation' });
  const navigation = page.getByRole('navigation', { name: 'Main' });
  // Closing, the menu leaves the accessibility tree at once but slides out for a moment more:
  // a person sees the page again once it is out of sight.
  const menuGone = () => page.locator('nav[aria-label="Main"]').waitFor({ state: 'hidden' });

  /** Opens the menu, follows `link`, and sees the menu close and the page open. */
  const goTo = async (link, title) => {
    await menuButton.click();
    await navigation.waitFor();
    // The open menu is modal: the rest of the page, its button too, is hidden from the accessibility tree.
    assert.equal(await page.locator('button[aria-label="Open navigation"]').getAttribute('aria-expanded'), 'true');
    await navigation.getByRole('link', { name: link, exact: true }).click();
    await heading(page, title).waitFor();
    await menuGone();
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'false');
  };

  await t.test('sees a menu button instead of the navigation', async () => {
    await signInWithLink(page, ADMIN_TOKEN);
    await heading(page, 'Health').waitFor();
    await menuButton.waitFor();
    assert.equal(await page.locator('nav[aria-label="Main"]').isVisible(), false, 'the navigation takes up the phone’s screen');
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'false');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assertNoErrors();
  });

  await t.test('opens the menu and finds every page in it', async () => {
    await menuButton.click();
    await navigation.waitFor();
    try {
      const links = (await navigation.getByRole('link').allInnerTexts()).map((text) => text.trim());
      for (const link of ['Health', 'Users', 'Orders', 'Topics', 'Operations']) {
        assert.ok(links.includes(link), `${link} is not in the menu: ${links.join(', ')}`);
      }
      await assertAccessible(page, 'Navigation on a phone');
    } finally {
      await page.keyboard.press('Escape');
    }
    await menuGone();
    assertNoErrors();
  });

  await t.test('reads the health page on the phone', async () => {
    const components = page.getByRole('list', { name: 'Components' }).getByRole('listitem');
    await eventually(async () => assert.ok((await components.count()) >= 5, 'the components are not shown'));
    const box = await components.first().boundingBox();
    assert.ok(box && box.width <= PHONE.width, 'a component card is wider than the phone');
    await assertFitsTheScreen(page, 'Health');
    await screenshot(page, '12-health-phone');
    await assertPage('Health on a phone');
  });

  await t.test('finds users and can reach the register form', async () => {
    await goTo('Users', 'Users');
    await page.getByRole('table', { name: 'Users' }).getByRole('link').first().waitFor();
    const form = page.getByRole('form', { name: 'Register a user' });
    await form.getByLabel('Email').scrollIntoViewIfNeeded();
    assert.ok(await form.getByLabel('Email').isVisible());
    assert.ok(await form.getByRole('button', { name: 'Register user' }).isEnabled());
    await assertFitsTheScreen(page, 'Users');
    await assertPage('Users on a phone');
  });

  for (const [link, title] of [
    ['Orders', 'Orders'],
    ['Topics', 'Topics'],
    ['Operations', 'Operations'],
  ]) {
    await t.test(`opens ${title} from the menu and it fits`, async () => {
      await goTo(link, title);
      await page.waitForLoadState('networkidle');
      await assertFitsTheScreen(page, title);
      await assertPage(`${title} on a phone`);
    });
  }
});
