// Two-step sign-in of local accounts in Chromium, with codes computed by the test from the secret it
// reads off the QR code, as a phone would: turned on from the account page, asked at every sign-in
// after the password, a recovery code once, wrong codes refused (then throttled, the page saying how
// long to wait), turned off with a code; and a
// provider that requires it (`mfa: required`) setting it up in the sign-in itself. Apps see what
// the sign-in proved (`amr`, RFC 8176) in X-MS-CLIENT-PRINCIPAL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { SecondFactors } from '../../src/accounts/second-factor.ts';
import type { Store } from '../../src/store/index.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import type { TestGateway } from '../support/gateway.ts';
import {
  amrOf,
  chromiumAndGateway,
  authenticatorCode,
  checkPage,
  passwordForm,
  qrCodeOf,
  submit,
} from '../support/pages.ts';

const PASSWORD = 'a long and unusual passphrase';

describe('two-step sign-in in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let store: Store;
  let close: () => Promise<void>;

  before(async () => {
    ({ browser, gw, store, close } = await chromiumAndGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        { id: 'local', type: 'password' },
        { id: 'staff', type: 'password', mfa: 'required' },
      ],
      apps: [
        { id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local', sso: false },
        { id: 'ops', hosts: [`ops.localhost:${port}`], upstream, defaultProvider: 'staff', sso: false },
      ],
    })));
  });
  after(() => close?.());

  /** A new browser at the app's password form, the password sent: the page that follows. */
  async function password(user: string, host = 'app.localhost') {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url(host, '/home'));
    await passwordForm(page, user, PASSWORD);
    return { context, page };
  }

  /** On the second step's page: `code` sent. */
  async function enterCode(page: Page, code: string) {
    await page.fill('#code', code);
    await submit(page, 'button[type=submit]');
  }

  test('turned on from the account page; then every sign-in asks for a code; a recovery code works once; turned off with a code', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'tess', PASSWORD, 12)).ok);
    const first = await password('tess');
    assert.deepEqual(await amrOf(first.page), ['pwd'], 'a password alone');

    // The account page: turn it on, with the code of the secret read off the QR code.
    const { page } = first;
    await page.goto(gw.url('app.localhost', '/.auth/account'));
    await submit(page, 'a:has-text("Sign in with Username and password")');
    await passwordForm(page, 'tess', PASSWORD);
    await submit(page, 'a:has-text("Turn on two-step sign-in")');
    await checkPage(page, 'two-step-enrol');
    const uri = await qrCodeOf(page, 'figure svg');
    assert.match(uri ?? '', /^otpauth:\/\/totp\/.*secret=[A-Z2-7]+/, 'the QR code holds the otpauth URI');
    const key = (await page.innerText('figcaption code')).replace(/ /g, '');
    assert.ok(uri!.includes(`secret=${key}`), 'the key shown is the one in the QR code');
    // The password too: a session alone (a stolen one) cannot put its own phone on the account.
    await page.fill('#current', 'not the passphrase at all');
    await enterCode(page, authenticatorCode(uri!));
    assert.match(await page.innerText('[role=alert]'), /your password is not right/);
    await page.fill('#current', PASSWORD);
    await enterCode(page, '000000' === authenticatorCode(uri!) ? '111111' : '000000');
    assert.match(await page.innerText('[role=alert]'), /Not turned on: this code is not right/);
    await page.fill('#current', PASSWORD);
    await enterCode(page, authenticatorCode(uri!));
    assert.match(await page.innerText('h1'), /Your recovery codes/);
    const codes = await page.locator('li code').allInnerTexts();
    assert.equal(codes.length, 10);
    await checkPage(page, 'two-step-recovery-codes');
    await submit(page, 'a:has-text("I have kept them")');
    assert.match(await page.innerText('section[aria-labelledby="two-step"]'), /On: .* 10 recovery codes left/s);
    await first.context.close();

    // A sign-in now asks for a code after the password.
    const second = await password('tess');
    assert.match(await second.page.innerText('h1'), /Two-step sign-in/);
    await checkPage(second.page, 'two-step-code');
    await enterCode(second.page, '12345');
    assert.match(await second.page.innerText('[role=alert]'), /not right/);
    // The step of the code that turned it on was used; the next one (a phone's clock a little ahead) is accepted.
    await enterCode(second.page, authenticatorCode(uri!, Date.now() + 30_000));
    assert.deepEqual(await amrOf(second.page), ['pwd', 'otp', 'mfa'], 'a code of the next step is accepted');
    await second.context.close();

    // A recovery code, once (typed with other case and spaces).
    const third = await password('tess');
    await enterCode(third.page, ` ${codes[0]!.toUpperCase()} `);
    assert.deepEqual(await amrOf(third.page), ['pwd', 'otp', 'mfa']);
    await third.context.close();
    const fourth = await password('tess');
    await enterCode(fourth.page, codes[0]!);
    assert.match(await fourth.page.innerText('[role=alert]'), /not right/, 'a recovery code works once');

    // Turned off from the account page, with a code.
    await fourth.page.goto(gw.url('auth.localhost', '/.auth/account'));
    await submit(fourth.page, 'a:has-text("Sign in with Username and password")');
    await passwordForm(fourth.page, 'tess', PASSWORD);
    await enterCode(fourth.page, codes[1]!);
    await fourth.page.fill('#remove-code', codes[2]!);
    await submit(fourth.page, 'button:has-text("Turn off two-step sign-in")');
    assert.match(await fourth.page.innerText('[role=status]'), /Two-step sign-in is off/);
    await fourth.context.close();
    const fifth = await password('tess');
    assert.deepEqual(await amrOf(fifth.page), ['pwd'], 'the password alone again');
    await fifth.context.close();
    const kinds = (await store.listAudit({ limit: 20, kinds: ['second-factor-added', 'second-factor-removed'] })).map(
      (e) => e.kind,
    );
    assert.deepEqual(kinds, ['second-factor-removed', 'second-factor-added']);
  });

  test('wrong codes are throttled: the page says how long to wait, as Retry-After does', async () => {
    const registered = await new LocalAccounts(store).register('local', 'ugo', PASSWORD, 12);
    assert.ok(registered.ok);
    const factors = new SecondFactors(store, { issuer: 'SignOnce test' });
    const { secret, uri } = factors.beginTotp(registered.accountId, 'ugo');
    assert.ok((await factors.confirmTotp(registered.accountId, secret, authenticatorCode(uri))).ok);
    const { context, page } = await password('ugo');
    let answer: Awaited<ReturnType<typeof submit>>[0] = null;
    for (let i = 0; i < 8 && answer?.status() !== 429; i++) {
      await page.fill('#code', '000000');
      [answer] = await submit(page, 'button[type=submit]');
    }
    assert.equal(answer?.status(), 429, 'throttled within 8 wrong codes');
    const wait = answer!.headers()['retry-after'];
    assert.match(wait ?? '', /^[1-9]\d*$/, 'Retry-After in whole seconds');
    assert.match(
      await page.innerText('[role=alert]'),
      new RegExp(`^Too many wrong codes\\. Try again in ${wait} seconds?\\.$`),
    );
    await checkPage(page, 'two-step-throttled');
    await context.close();
  });

  test('a provider that requires it: the first sign-in sets it up (QR code, code, recovery codes), then asks for it', async () => {
    assert.ok((await new LocalAccounts(store).register('staff', 'uma', PASSWORD, 12)).ok);
    const { context, page } = await password('uma', 'ops.localhost');
    assert.match(await page.innerText('h1'), /Set up two-step sign-in/);
    const uri = (await qrCodeOf(page, 'figure svg'))!;
    await enterCode(page, authenticatorCode(uri));
    assert.match(await page.innerText('h1'), /Your recovery codes/);
    await submit(page, 'button:has-text("continue")');
    assert.deepEqual(await amrOf(page), ['pwd', 'otp', 'mfa'], 'signed in at the app');
    await context.close();
    const again = await password('uma', 'ops.localhost');
    assert.match(await again.page.innerText('h1'), /^Two-step sign-in$/, 'the next sign-in asks for a code');
    await again.context.close();
  });
});

describe('step-up by access rules in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let store: Store;
  let close: () => Promise<void>;

  before(async () => {
    ({ browser, gw, store, close } = await chromiumAndGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [
        { id: 'local', type: 'password' },
        { id: 'dev', type: 'dev' },
      ],
      apps: [
        {
          id: 'wiki',
          hosts: [`wiki.localhost:${port}`],
          upstream,
          defaultProvider: 'local',
          sso: false,
          access: [
            { paths: ['/admin/*'], allow: { authenticated: true }, require: { mfa: true } },
            { allow: { authenticated: true } },
          ],
        },
      ],
    })));
  });
  after(() => close?.());

  test('a password-only session asked for /admin/* signs in again with a second factor (set up on the way) and lands there; an API call gets 401 insufficient_user_authentication; a provider that proves none is refused', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'vera', PASSWORD, 12)).ok);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('wiki.localhost', '/pages/home'));
    await passwordForm(page, 'vera', PASSWORD);
    assert.deepEqual(await amrOf(page), ['pwd'], 'the wiki with a password alone');

    // An API call from the page (not a navigation): told what is missing (RFC 9470).
    const api = await page.evaluate(async () => {
      const answer = await fetch('/admin/settings', { headers: { accept: 'application/json' } });
      return { status: answer.status, challenge: answer.headers.get('www-authenticate'), body: await answer.json() };
    });
    assert.equal(api.status, 401);
    assert.match(api.challenge ?? '', /error="insufficient_user_authentication"/);
    assert.equal((api.body as { reason: string }).reason, 'this needs a sign-in with a second factor');

    // A navigation: signed in again, asked for a second factor, which is set up on the way.
    await page.goto(gw.url('wiki.localhost', '/admin/settings'));
    await passwordForm(page, 'vera', PASSWORD);
    assert.match(await page.innerText('h1'), /Set up two-step sign-in/);
    const uri = (await qrCodeOf(page, 'figure svg'))!;
    await page.fill('#code', authenticatorCode(uri));
    await submit(page, 'button[type=submit]');
    await submit(page, 'button:has-text("continue")');
    assert.equal(new URL(page.url()).pathname, '/admin/settings', 'back where it was going');
    assert.deepEqual(await amrOf(page), ['pwd', 'otp', 'mfa']);
    await context.close();

    // The dev provider asserts no amr: the step-up sign-in is refused, with a page saying why.
    const other = await browser.newContext();
    const devPage = await other.newPage();
    await devPage.goto(gw.url('wiki.localhost', '/.auth/login/dev?post_login_redirect_uri=/pages/home'));
    await devPage.fill('#user_id', 'dora@example.com');
    await submit(devPage, 'button[type=submit]');
    await devPage.goto(gw.url('wiki.localhost', '/admin/settings'));
    assert.match(devPage.url(), /\/\.auth\/login\/local\/form/, 'sent to sign in again');
    await devPage.goto(
      gw.url('wiki.localhost', '/.auth/login/dev?prompt=login&mfa=1&post_login_redirect_uri=/admin/settings'),
    );
    await devPage.fill('#user_id', 'dora@example.com');
    await submit(devPage, 'button[type=submit]');
    assert.match(await devPage.innerText('h1'), /A second factor is needed/);
    await checkPage(devPage, 'step-up-refused');
    await other.close();
  });
});
