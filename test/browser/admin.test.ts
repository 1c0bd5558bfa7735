// The admin console (/.auth/admin) in Chromium: an admin (a SignOnce group the admin.access rule
// names) signs in on the auth host, reads the dashboard's charts — the counts of the sign-ins and
// failures this test made, read from the SVG — finds a user, disables them (their session ends and
// their sign-in is refused), and finds it in the user's audit events and the audit log. Each page
// is checked with axe-core, kept under 50 KB and photographed (test-output/screenshots).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import type { Store } from '../../src/store/index.ts';
import { chromiumAndGateway, checkPage, passwordForm as signInForm, submit } from '../support/pages.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import type { TestGateway } from '../support/gateway.ts';

const PASSWORD = 'a long and unusual passphrase';

describe('the admin console in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let store: Store;
  const admin = (path = '') => gw.url('auth.localhost', `/.auth/admin${path}`);

  let close: () => Promise<void>;

  before(async () => {
    ({ browser, gw, store, close } = await chromiumAndGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [{ id: 'local', type: 'password' }],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local', sso: false }],
      admin: { access: [{ allow: { groups: ['admins'] } }] },
    })));
    const local = new LocalAccounts(store);
    for (const user of ['root', 'vic', 'walt']) assert.ok((await local.register('local', user, PASSWORD, 12)).ok);
    await store.addGroupMembers('admins', [(await store.getPasswordCredential('local', 'root'))!.accountId]);
  });
  after(() => close?.());

  const passwordForm = (page: Page, username: string, password = PASSWORD) => signInForm(page, username, password);
  /** A new browser signed in at the app as `user`. */
  async function atApp(user: string, password = PASSWORD): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('app.localhost', '/home'));
    await passwordForm(page, user, password);
    return { context, page };
  }
  /** The counts of a chart's bars, by the bar's title (its label). */
  const barsOf = (page: Page, chart: string) =>
    page.$$eval(`svg[aria-labelledby^="${chart}"] [data-count]`, (bars) =>
      bars.map((b) => Number(b.getAttribute('data-count'))),
    );

  test('an admin reads the dashboard, finds a user, disables them, and finds that in the audit log', async () => {
    // What the dashboard should count: two sign-ins of vic, one of walt, one wrong password.
    const vic = await atApp('vic');
    const other = await atApp('vic');
    await (await atApp('walt')).context.close();
    const wrong = await browser.newContext();
    const wrongPage = await wrong.newPage();
    await wrongPage.goto(gw.url('app.localhost', '/home'));
    await passwordForm(wrongPage, 'walt', 'not the passphrase at all');
    assert.match(await wrongPage.innerText('main'), /not right/);
    await wrong.close();

    // A user who is no admin is refused, and told why.
    const nosy = await browser.newContext();
    const nosyPage = await nosy.newPage();
    await nosyPage.goto(admin());
    assert.match(await nosyPage.innerText('h1'), /Sign in to the admin console/);
    await submit(nosyPage, 'a:has-text("Sign in with Username and password")');
    await passwordForm(nosyPage, 'walt');
    assert.match(await nosyPage.innerText('h1'), /Not an administrator/);
    await checkPage(nosyPage, 'admin-refused');
    await nosy.close();

    // The admin.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(admin());
    await checkPage(page, 'admin-sign-in');
    await submit(page, 'a:has-text("Sign in with Username and password")');
    await passwordForm(page, 'root');
    assert.equal(page.url(), admin());
    assert.match(await page.innerText('h1'), /Dashboard/);
    // Sign-ins this test made: vic twice, walt, walt at the console, root: 5 (in this hour and today).
    const perHour = await barsOf(page, 'per-hour');
    assert.equal(perHour.length, 24);
    assert.equal(
      perHour.reduce((a, b) => a + b, 0),
      5,
      `per hour: ${perHour}`,
    );
    assert.equal(perHour.at(-1), 5, 'all in the current hour');
    const perDay = await barsOf(page, 'per-day');
    assert.deepEqual([perDay.length, perDay.at(-1)], [7, 5]);
    assert.deepEqual(await barsOf(page, 'failures'), [1], 'one wrong password');
    assert.deepEqual(await barsOf(page, 'refusals'), [1], 'walt refused at the console');
    await checkPage(page, 'admin-dashboard');

    // Find vic, open the account, disable it.
    await page.fill('#q', 'vic');
    await submit(page, 'button:has-text("Find")');
    assert.match(await page.innerText('table'), /username at local/);
    await checkPage(page, 'admin-users');
    await submit(page, 'table a');
    const vicId = (await store.getPasswordCredential('local', 'vic'))!.accountId;
    assert.equal(page.url(), admin(`/users/${vicId}`));
    assert.equal(await page.locator('section[aria-labelledby="sessions"] tbody tr').count(), 2, "vic's two browsers");
    assert.doesNotMatch(await page.content(), /access_token|refresh_token/, 'never a token value');
    await checkPage(page, 'admin-user');
    await submit(page, 'button:has-text("Disable")');
    assert.match(await page.innerText('[role=status]'), /disabled and signed out everywhere/);
    assert.match(await page.innerText('main'), /disabled since/);

    // Vic: signed out in both browsers, and the right password is refused.
    for (const browserOfVic of [vic, other]) {
      await browserOfVic.page.goto(gw.url('app.localhost', '/home'));
      assert.match(browserOfVic.page.url(), /\/\.auth\/login\/local\/form/, 'signed out');
    }
    await passwordForm(vic.page, 'vic');
    assert.match(await vic.page.innerText('main'), /This account is disabled/);

    // The audit entries: on the user's page, and in the audit log.
    await page.reload();
    const events = await page.innerText('section[aria-labelledby="events"] table');
    assert.match(events, /account-disabled\tsuccess/);
    const rootId = (await store.getPasswordCredential('local', 'root'))!.accountId;
    assert.ok(events.includes(rootId), 'the admin is the actor');
    await page.goto(admin(`/audit?kind=account-disabled`));
    const rows = await page.locator('table tbody tr').allInnerTexts();
    assert.equal(rows.length, 1);
    assert.ok(rows[0]!.includes(vicId) && rows[0]!.includes(rootId));
    await checkPage(page, 'admin-audit');
    for (const c of [context, vic.context, other.context]) await c.close();
  });
});
