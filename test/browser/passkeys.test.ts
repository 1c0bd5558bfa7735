// Passkeys in Chromium with a CDP virtual authenticator (ctap2, internal, resident keys, user
// verification): added on the account page (with the password), then signing in with no password
// (the sign-in form's passkey button), and as the second step after the password; a clone of the
// credential on another authenticator, reporting a lower signature counter, refused. The pages'
// CSP lets exactly SignOnce's two scripts run (nothing logged as refused), and without JavaScript
// there is no passkey button and the password still signs in. Apps see the amr (RFC 8176).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import type { Store } from '../../src/store/index.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { amrOf, chromiumAndGateway, checkPage, passwordForm, submit } from '../support/pages.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';
import { passkeySignInForm } from '../support/webauthn.ts';

const PASSWORD = 'a long and unusual passphrase';

/** A browser (context) with a virtual platform authenticator on its one page; what the page logs. */
async function browserWithAuthenticator(browser: Browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // A refusal page's status (400, 401) is logged as a failed load: those are the test's own.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  return { context, page, cdp, authenticatorId, problems };
}

describe('passkeys in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let store: Store;
  let close: () => Promise<void>;

  before(async () => {
    ({ browser, gw, store, close } = await chromiumAndGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [{ id: 'local', type: 'password' }],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local', sso: false }],
    })));
  });
  after(() => close?.());

  const toApp = (page: Page) => page.goto(gw.url('app.localhost', '/home'));

  test('added on the account page; signs in without a password; serves as the second step; a clone is refused', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'pia', PASSWORD, 12)).ok);
    const first = await browserWithAuthenticator(browser);
    const { page } = first;

    // The account page: its passkey form is shown by the script, and adds one with the password.
    await page.goto(gw.url('auth.localhost', '/.auth/account'));
    await submit(page, 'a:has-text("Sign in with Username and password")');
    await passwordForm(page, 'pia', PASSWORD);
    assert.match(await page.innerText('section[aria-labelledby="passkeys"]'), /No passkeys yet/);
    await page.waitForSelector('button:has-text("Add a passkey")', { state: 'visible' });
    await checkPage(page, 'passkeys-account');
    await page.fill('#passkey-name', 'Laptop');
    await page.fill('#passkey-current', 'not the passphrase at all');
    await submit(page, 'button:has-text("Add a passkey")');
    assert.match(await page.innerText('[role=alert]'), /Not added: your password is not right/);
    assert.deepEqual(await store.listWebAuthnCredentials((await accountOf('pia'))!), [], 'nothing kept');
    await page.waitForSelector('button:has-text("Add a passkey")', { state: 'visible' });
    await page.fill('#passkey-name', 'Laptop');
    await page.fill('#passkey-current', PASSWORD);
    await submit(page, 'button:has-text("Add a passkey")');
    assert.match(await page.innerText('[role=status]'), /The passkey is added/);
    assert.match(await page.innerText('section[aria-labelledby="passkeys"]'), /Laptop/);
    const [stored] = await store.listWebAuthnCredentials((await accountOf('pia'))!);
    assert.equal(stored?.name, 'Laptop');
    assert.deepEqual(stored?.transports, ['internal']);

    // Signed out (no cookies): the sign-in form offers the passkey in the username's autofill
    // (conditional UI), which the virtual authenticator answers at once: signed in, no password.
    await first.context.clearCookies();
    await Promise.all([page.waitForURL(gw.url('app.localhost', '/home')), toApp(page)]);
    assert.deepEqual(await amrOf(page), ['pop', 'user', 'mfa'], 'a verified passkey alone is two factors');

    // The button: with the authenticator waiting for a touch until the page is checked.
    const presence = (enabled: boolean) =>
      first.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: first.authenticatorId, enabled });
    await presence(false);
    await first.context.clearCookies();
    await toApp(page);
    await page.waitForSelector('button:has-text("Sign in with a passkey")', { state: 'visible' });
    assert.equal(await page.getAttribute('#username', 'autocomplete'), 'username webauthn', 'conditional UI');
    await checkPage(page, 'passkeys-sign-in');
    await presence(true);
    await submit(page, 'button:has-text("Sign in with a passkey")');
    assert.deepEqual(await amrOf(page), ['pop', 'user', 'mfa']);

    // Again signed out: the password now asks for the second step, and the passkey gives it.
    await presence(false);
    await first.context.clearCookies();
    await toApp(page);
    await passwordForm(page, 'pia', PASSWORD);
    assert.match(await page.innerText('h1'), /Two-step sign-in/);
    await page.waitForSelector('button:has-text("Use a passkey")', { state: 'visible' });
    assert.equal(await page.locator('#code').count(), 0, 'no code asked: the account has no authenticator app');
    await checkPage(page, 'passkeys-second-step');
    await presence(true);
    await submit(page, 'button:has-text("Use a passkey")');
    assert.deepEqual(await amrOf(page), ['pwd', 'pop', 'mfa']);
    assert.deepEqual(first.problems, [], 'no script refused, nothing thrown');

    // A clone: the same key on another authenticator, with a lower signature counter.
    const { credentials } = await first.cdp.send('WebAuthn.getCredentials', {
      authenticatorId: first.authenticatorId,
    });
    assert.equal(credentials.length, 1);
    const original = credentials[0]!;
    assert.ok(original.signCount >= 2, `the original counted its uses (${original.signCount})`);
    const clone = await browserWithAuthenticator(browser);
    await clone.cdp.send('WebAuthn.addCredential', {
      authenticatorId: clone.authenticatorId,
      credential: { ...original, signCount: 0 },
    });
    // Conditional UI answers at once: the clone's assertion is posted as the page loads.
    await Promise.all([clone.page.waitForURL(/\/\.auth\/login\/local\/passkey$/), toApp(clone.page)]);
    assert.match(
      await clone.page.innerText('[role=alert]'),
      /signature counter did not go up .*another copy of it is in use/,
    );
    assert.match(clone.page.url(), /\/\.auth\/login\/local\/passkey$/, 'not signed in');
    assert.equal(
      await clone.page.getAttribute('form[data-passkey]', 'data-autofill'),
      null,
      'not offered again at once',
    );
    const refused = await store.listAudit({ limit: 5, kinds: ['sign-in'] });
    assert.ok(
      refused.some(
        (e) =>
          e.outcome === 'failed' &&
          /passkey cloned/.test(String((e.detail as { reason?: string } | undefined)?.reason)),
      ),
      JSON.stringify(refused),
    );
    await clone.context.close();

    // Renamed and removed on the account page: it signs in no more.
    await presence(false);
    await first.context.clearCookies();
    await page.goto(gw.url('auth.localhost', '/.auth/account'));
    await submit(page, 'a:has-text("Sign in with Username and password")');
    await passwordForm(page, 'pia', PASSWORD);
    await presence(true);
    await submit(page, 'button:has-text("Use a passkey")');
    await page.fill('#passkey-0-name', 'Old laptop');
    await submit(page, 'button:has-text("Rename")');
    assert.match(await page.innerText('section[aria-labelledby="passkeys"]'), /Old laptop/);
    await submit(page, 'button:has-text("Remove")');
    assert.match(await page.innerText('[role=status]'), /The passkey is removed/);
    await first.context.clearCookies();
    await toApp(page);
    await passwordForm(page, 'pia', PASSWORD);
    assert.deepEqual(await amrOf(page), ['pwd'], 'the password alone again');
    await first.context.close();
  });

  test('without JavaScript: no passkey button, and the password signs in', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'noel', PASSWORD, 12)).ok);
    const context: BrowserContext = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await toApp(page);
    assert.equal(await page.isVisible('button:has-text("Sign in with a passkey")'), false);
    await passwordForm(page, 'noel', PASSWORD);
    assert.deepEqual(await amrOf(page), ['pwd']);
    await context.close();
  });

  test("bound to a parent domain (passkeys.rpId): added on the account page, signs in with no password; a sibling host's answer relayed to SignOnce is refused (origin)", async () => {
    let upstreamPort = '';
    const parent = await startTestGateway((port, upstream) => {
      upstreamPort = new URL(upstream).port;
      return {
        publicUrl: `http://auth.corp.localhost:${port}`,
        passkeys: { rpId: 'corp.localhost' },
        providers: [{ id: 'local', type: 'password' }],
        apps: [{ id: 'app', hosts: [`app.corp.localhost:${port}`], upstream, defaultProvider: 'local', sso: false }],
      };
    });
    try {
      assert.ok((await new LocalAccounts(await parent.store()).register('local', 'rhea', PASSWORD, 12)).ok);
      const { context, page, cdp, authenticatorId, problems } = await browserWithAuthenticator(browser);
      await page.goto(parent.url('auth.corp.localhost', '/.auth/account'));
      await submit(page, 'a:has-text("Sign in with Username and password")');
      await passwordForm(page, 'rhea', PASSWORD);
      await page.waitForSelector('button:has-text("Add a passkey")', { state: 'visible' });
      await page.fill('#passkey-name', 'Laptop');
      await page.fill('#passkey-current', PASSWORD);
      await submit(page, 'button:has-text("Add a passkey")');
      assert.match(await page.innerText('[role=status]'), /The passkey is added/);
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.deepEqual(
        credentials.map((c) => c.rpId),
        ['corp.localhost'],
        'bound to the parent domain',
      );
      await context.clearCookies();
      await Promise.all([
        page.waitForURL(parent.url('app.corp.localhost', '/home')),
        page.goto(parent.url('app.corp.localhost', '/home')),
      ]);
      assert.deepEqual(await amrOf(page), ['pop', 'user', 'mfa'], 'signed in by the passkey (autofill)');
      assert.deepEqual(problems, []);

      // Any host under the parent domain may ask for the passkey (WebAuthn L3 section 5.1.4.1), so
      // a sibling's page can have the user sign an attacker's sign-in challenge. Relayed to
      // SignOnce, the answer signs no one in: it names the sibling's origin, and SignOnce accepts
      // only the auth host's (section 7.2 step 9).
      const attacker = new UserAgent();
      const form = await attacker.navigate(parent.url('app.corp.localhost', '/home'));
      const { state, challenge, optionsJSON } = passkeySignInForm(await form.text());
      // The sibling: any server under the parent domain (here the app's own server, by another name).
      await page.goto(`http://evil.corp.localhost:${upstreamPort}/`);
      const answer = await page.evaluate(`(async () => {
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(${optionsJSON});
        return (await navigator.credentials.get({ publicKey })).toJSON();
      })()`);
      const relayed = await attacker.request(new URL('/.auth/login/local/passkey', finalUrl(form)).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(finalUrl(form)).origin },
        body: new URLSearchParams({ state, challenge, response: JSON.stringify(answer) }).toString(),
      });
      assert.equal(relayed.status, 401, 'the relayed answer is refused');
      assert.match(await relayed.text(), /No sign-in with that passkey: .*origin.*evil\.corp\.localhost/);
      const [failed] = await (await parent.store()).listAudit({ limit: 1, kinds: ['sign-in'] });
      assert.equal(failed?.outcome, 'failed', 'audited');
      assert.match(String((failed?.detail as { reason?: string } | undefined)?.reason), /^passkey invalid: .*origin/);
      const app = await attacker.navigate(parent.url('app.corp.localhost', '/home'));
      assert.match(finalUrl(app), /\/\.auth\/login\/local\//, 'the attacker is not signed in');
      await context.close();
    } finally {
      await parent.close();
    }
  });

  /** The account of a local username. */
  async function accountOf(username: string) {
    return (await store.findIdentity('local', username))?.accountId;
  }
});
