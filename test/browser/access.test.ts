// Access rules as a user meets them, in Chromium: a local account outside the app's group gets the
// 403 page (who they are, what the app asks), follows "Sign in with another account", signs in as
// a member of the group, and reaches the app; a private rule's page says nothing of the rule.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import type { Store } from '../../src/store/index.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import { chromiumAndGateway } from '../support/pages.ts';
import type { Echo, TestGateway } from '../support/gateway.ts';

const PASSWORD = 'a long and unusual passphrase';

describe('access rules in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let store: Store;
  let close: () => Promise<void>;

  before(async () => {
    ({ browser, gw, store, close } = await chromiumAndGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [{ id: 'local', type: 'password' }],
      apps: [
        {
          id: 'wiki',
          hosts: [`wiki.localhost:${port}`],
          upstream,
          defaultProvider: 'local',
          access: [{ allow: { groups: ['editors'] } }],
        },
        {
          id: 'vault',
          hosts: [`vault.localhost:${port}`],
          upstream,
          defaultProvider: 'local',
          access: [{ allow: { groups: ['vault-keepers'] }, private: true }],
        },
      ],
    })));
    const accounts = new LocalAccounts(store);
    for (const user of ['ann', 'eve']) assert.ok((await accounts.register('local', user, PASSWORD, 12)).ok);
    const eve = await store.getPasswordCredential('local', 'eve');
    await store.addGroupMembers('editors', [eve!.accountId]);
  });
  after(() => close?.());

  const submit = (page: Page, selector: string) => Promise.all([page.waitForNavigation(), page.click(selector)]);
  async function signInAt(page: Page, username: string) {
    assert.match(page.url(), /\/\.auth\/login\/local\/form\?state=/, await page.innerText('body'));
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    return (await submit(page, 'button[type=submit]'))[0];
  }

  test('refused: the 403 page says who you are and what the app asks; another account then gets in', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(gw.url('wiki.localhost', '/pages/home'));
    const refused = await signInAt(page, 'ann');
    assert.equal(refused?.status(), 403);
    assert.equal(await page.innerText('h1'), 'You cannot use wiki');
    const text = await page.innerText('main');
    assert.match(text, /You are signed in as ann with /);
    assert.match(text, /wiki lets in members of editors\./);

    await submit(page, 'text=Sign in with another account');
    const landed = await signInAt(page, 'eve');
    assert.equal(landed?.status(), 200, await page.innerText('body'));
    assert.equal(new URL(page.url()).pathname, '/pages/home', 'back where the refused request was going');
    const echo = JSON.parse(await page.innerText('body')) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-name'], 'eve');
  });

  test('a private rule: the page names no requirement', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(gw.url('vault.localhost', '/'));
    const refused = await signInAt(page, 'eve');
    assert.equal(refused?.status(), 403);
    const text = await page.innerText('main');
    assert.match(text, /You are signed in as eve/);
    assert.doesNotMatch(text, /vault-keepers|lets in/);
  });
});
