// Step-up for a federated user in Chromium: a rule requiring a second factor on /admin/* sends a
// password-only session back to its OpenID provider (oidc-provider) with acr_values; the provider,
// asked, does its second factor, and the browser lands on the page it was going to, with the
// methods in X-MS-CLIENT-PRINCIPAL. The same provider not asked (no mfaAcrValues) proves none:
// SignOnce's page says so (axe-checked), and no session comes of it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { startGatewayWithIdp, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { amrOf, checkPage } from '../support/pages.ts';

const MFA = 'urn:example:idp:loa:mfa';

describe('federated step-up in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let idp: TestIdp;

  before(async () => {
    browser = await launchChromium();
    ({ gw, idp } = await startGatewayWithIdp(
      (port, upstream, idp) => {
        const provider = (id: string, extra: object = {}) => ({
          id,
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          ...extra,
        });
        const app = (id: string, defaultProvider: string) => ({
          id,
          hosts: [`${id}.localhost:${port}`],
          upstream,
          defaultProvider,
          access: [
            { paths: ['/admin/*'], allow: { authenticated: true }, require: { mfa: true } },
            { allow: { authenticated: true } },
          ],
        });
        return {
          publicUrl: `http://auth.localhost:${port}`,
          providers: [provider('idp', { mfaAcrValues: [MFA] }), provider('plain')],
          apps: [app('wiki', 'idp'), app('blog', 'plain')],
        };
      },
      {
        providerIds: ['idp', 'plain'],
        authentication: {
          acrValues: [MFA],
          methods: (params) =>
            String(params.acr_values ?? '')
              .split(' ')
              .includes(MFA)
              ? { amr: ['pwd', 'otp'], acr: MFA }
              : { amr: ['pwd'] },
        },
      },
    ));
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  /** At the provider's login page: signs in as `user`, through its consent page when it shows one. */
  async function atProvider(page: Page, user: string): Promise<void> {
    assert.match(page.url(), /\/interaction\//, "on the provider's login page");
    await page.fill('input[name=login]', user);
    await page.fill('input[name=password]', 'anything');
    const login = page.url();
    await Promise.all([page.waitForURL((u) => u.href !== login), page.click('button[type=submit]')]);
    if ((await page.locator('input[name=prompt][value=consent]').count()) === 0) return;
    const consent = page.url();
    await Promise.all([page.waitForURL((u) => u.href !== consent), page.click('button[type=submit]')]);
  }

  test('a password-only session steps up at its provider and lands on the page it was going to', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('wiki.localhost', '/notes'));
    await atProvider(page, 'ines');
    assert.equal(page.url(), gw.url('wiki.localhost', '/notes'));
    assert.deepEqual(await amrOf(page), ['pwd']);

    await page.goto(gw.url('wiki.localhost', '/admin/settings?tab=users'));
    assert.equal(idp.lastAuthorization?.get('acr_values'), MFA, 'the provider is asked for its second factor');
    assert.equal(idp.lastAuthorization?.get('prompt'), 'login');
    await atProvider(page, 'ines');
    assert.equal(page.url(), gw.url('wiki.localhost', '/admin/settings?tab=users'));
    assert.deepEqual(await amrOf(page), ['pwd', 'otp']);
    await context.close();
  });

  test('a provider not asked for a second factor proves none: a page says so, no session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('blog.localhost', '/admin/posts'));
    await atProvider(page, 'jon');
    // Signed in first (one factor), then sent straight on to step up: the provider again.
    await atProvider(page, 'jon');
    assert.match(await page.innerText('h1'), /A second factor is needed/);
    assert.match(await page.innerText('main'), /did not confirm one for this sign-in/);
    await checkPage(page, 'federated-step-up-refused');
    const retry = new URL((await page.getAttribute('a:has-text("Try again")', 'href'))!);
    assert.equal(`${retry.origin}${retry.pathname}`, gw.url('blog.localhost', '/.auth/login/plain'));
    assert.deepEqual(
      [
        retry.searchParams.get('prompt'),
        retry.searchParams.get('mfa'),
        retry.searchParams.get('post_login_redirect_uri'),
      ],
      ['login', '1', '/admin/posts'],
      'trying again asks the same',
    );
    await page.goto(gw.url('blog.localhost', '/admin/posts'));
    assert.match(page.url(), /\/interaction\//, 'still not let in: back at the provider');
    await context.close();
  });
});
