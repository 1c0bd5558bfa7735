// Linking in a real browser (Chromium), with two real OpenID providers: sign in with one, link the
// other, both in /.auth/me and one account; an identity of another account is refused with a page.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestIdp } from '../support/idp.ts';

describe('linking in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let idpA: TestIdp;
  let idpB: TestIdp;
  let gw: TestGateway;

  before(async () => {
    browser = await launchChromium();
    [idpA, idpB] = [await startOidcProvider([]), await startOidcProvider([])];
    const provider = (id: string, idp: TestIdp) => ({
      id,
      type: 'oidc',
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      scopes: ['openid', 'email', 'profile'],
      authorizationParams: { prompt: 'consent' },
    });
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [provider('idpa', idpA), provider('idpb', idpB)],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'idpa', tokenStore: true }],
    }));
    await Promise.all([idpA.close(), idpB.close()]);
    idpA = await startOidcProvider([`http://auth.localhost:${gw.port}/.auth/login/idpa/callback`], idpA);
    idpB = await startOidcProvider([`http://auth.localhost:${gw.port}/.auth/login/idpb/callback`], idpB);
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await idpA?.close();
    await idpB?.close();
  });

  /** Goes to `url`, then through the provider's login and consent pages as `user`. */
  async function throughProvider(page: Page, url: string, user: string): Promise<void> {
    await page.goto(url);
    assert.match(page.url(), /\/interaction\//, "on the provider's login page");
    await page.fill('input[name=login]', user);
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
    await Promise.all([
      page.waitForURL((u) => !u.pathname.startsWith('/interaction/')),
      page.click('button[type=submit]'),
    ]);
  }
  const meOf = async (page: Page) =>
    (await (await page.goto(gw.url('app.localhost', '/.auth/me')))!.json()) as Array<{
      provider_name: string;
      user_id: string;
      user_claims: Array<{ typ: string }>;
    }>;

  test("sign in with one provider, link the other: both in /.auth/me, one account; the other account's identity is refused", async () => {
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await throughProvider(otherPage, gw.url('app.localhost', '/.auth/login/idpb'), 'tara-elsewhere');
    await other.close();

    const context = await browser.newContext();
    const page = await context.newPage();
    await throughProvider(page, gw.url('app.localhost', '/'), 'tara');
    await throughProvider(
      page,
      gw.url('app.localhost', '/.auth/link/idpb?post_login_redirect_uri=/settings'),
      'tara-b',
    );
    assert.equal(page.url(), gw.url('app.localhost', '/settings'), 'back on the page that asked');
    const me = await meOf(page);
    assert.deepEqual(
      me.map((e) => [e.provider_name, e.user_id]),
      [
        ['idpa', 'tara@example.com'],
        ['idpb', 'tara-b@example.com'],
      ],
    );
    assert.ok(
      me[1]!.user_claims.some((c) => c.typ === 'email'),
      'with what the provider said of it',
    );

    // In a fresh browser, the linked identity alone signs in to the same account.
    const again = await browser.newContext();
    const againPage = await again.newPage();
    await throughProvider(againPage, gw.url('app.localhost', '/.auth/login/idpb'), 'tara-b');
    assert.deepEqual(
      (await meOf(againPage)).map((e) => e.provider_name),
      ['idpb', 'idpa'],
    );
    await again.close();

    // The provider remembers tara-b in this browser: prompt=login (passed through) asks who again.
    await throughProvider(page, gw.url('app.localhost', '/.auth/link/idpb?prompt=login%20consent'), 'tara-elsewhere');
    assert.match(await page.innerText('h1'), /Already linked to another account/);
    assert.equal((await meOf(page)).length, 2, 'nothing changed');
    await context.close();
  });
});
