// In a real browser (Chromium): a protected page of an app behind SignOnce, the provider's login
// and consent pages, back on the page, the app sees the user; /.auth/me; logout. And the demo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { start } from '../support/cli.ts';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';

describe('in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let idp: TestIdp;
  let gw: TestGateway;

  const appleKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const appleCheck = { teamId: 'TEAM123456', keyId: 'KEY1234567', publicKey: appleKey.publicKey };

  before(async () => {
    browser = await launchChromium();
    idp = await startOidcProvider([], undefined, { apple: appleCheck });
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'profile', 'offline_access'],
          authorizationParams: { prompt: 'consent' },
        },
        {
          id: 'apple',
          type: 'apple',
          issuer: idp.issuer,
          clientId: idp.appleClientId,
          teamId: appleCheck.teamId,
          keyId: appleCheck.keyId,
          privateKey: appleKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        },
      ],
      apps: [
        { id: 'app1', hosts: [`app1.localhost:${port}`], upstream, defaultProvider: 'idp', tokenStore: true },
        { id: 'app2', hosts: [`app2.localhost:${port}`], upstream, defaultProvider: 'idp' },
      ],
    }));
    await idp.close();
    idp = await startOidcProvider(
      ['idp', 'apple'].map((id) => `http://auth.localhost:${gw.port}/.auth/login/${id}/callback`),
      idp,
      { apple: appleCheck },
    );
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await idp?.close();
  });

  test('sign in through an OpenID provider, land on the page asked for, see yourself, sign out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('app1.localhost', '/reports/2026?year=1'));
    assert.match(page.url(), /\/interaction\//, "on the provider's login page");
    await page.fill('input[name=login]', 'carol');
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
    await Promise.all([
      page.waitForURL(gw.url('app1.localhost', '/reports/2026?year=1')),
      page.click('button[type=submit]'),
    ]);

    const echo = JSON.parse(await page.innerText('body')) as Echo;
    assert.equal(echo.url, '/reports/2026?year=1');
    assert.equal(echo.headers['x-ms-client-principal-name'], 'carol@example.com');
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'idp');
    assert.match(String(echo.headers['x-ms-token-idp-id-token']), /^ey/);
    assert.equal(echo.headers.cookie, undefined, "SignOnce's cookie is not forwarded");
    await page.reload();
    const again = JSON.parse(await page.innerText('body')) as Echo;
    assert.equal(again.headers.cookie, 'app=1; other=2', 'the app sees its own cookies, and only those');

    const cookies = await context.cookies(gw.url('app1.localhost'));
    const session = cookies.find((c) => c.name === 'AppServiceAuthSession');
    assert.ok(session?.httpOnly && session.sameSite === 'Lax', 'HttpOnly, SameSite=Lax');

    const me = await page.goto(gw.url('app1.localhost', '/.auth/me'));
    const [entry] = (await me!.json()) as Array<{ user_id: string; provider_name: string }>;
    assert.deepEqual([entry?.provider_name, entry?.user_id], ['idp', 'carol@example.com']);

    await page.goto(gw.url('app1.localhost', '/.auth/logout'));
    assert.equal(page.url(), gw.url('app1.localhost', '/.auth/logout/complete'));
    assert.match(await page.innerText('h1'), /signed out/);
    assert.equal((await page.goto(gw.url('app1.localhost', '/.auth/me')))!.status(), 401);
    await context.close();
  });

  test('single sign-on across hosts: app2 signs in with no provider prompt; logout at app2 signs app1 out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const asked = idp.authorizationRequests;
    await page.goto(gw.url('app1.localhost', '/start'));
    await page.fill('input[name=login]', 'erin');
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
    await Promise.all([page.waitForURL(gw.url('app1.localhost', '/start')), page.click('button[type=submit]')]);

    await page.goto(gw.url('app2.localhost', '/mail'));
    assert.equal(page.url(), gw.url('app2.localhost', '/mail'), 'straight back to app2, no provider page');
    const echo = JSON.parse(await page.innerText('body')) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-name'], 'erin@example.com');
    assert.equal(idp.authorizationRequests - asked, 1, 'the provider was asked once for both apps');

    await page.goto(gw.url('app2.localhost', '/.auth/logout'));
    assert.equal((await page.goto(gw.url('app1.localhost', '/.auth/me')))!.status(), 401, 'app1 is signed out too');
    await page.goto(gw.url('app1.localhost', '/start'));
    assert.match(page.url(), /\/interaction\//, 'the next sign-in meets the provider again');
    await context.close();
  });

  test("Sign in with Apple: the provider's cross-site form POST to the callback still finds the browser's login cookie", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('app1.localhost', '/.auth/login/apple?post_login_redirect_uri=/mail'));
    await page.fill('input[name=login]', 'ivy');
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
    // The consent answer is oidc-provider's form_post page, which submits itself to the callback.
    await Promise.all([page.waitForURL(gw.url('app1.localhost', '/mail')), page.click('button[type=submit]')]);
    const echo = JSON.parse(await page.innerText('body')) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'apple');
    assert.equal(echo.headers['x-ms-client-principal-id'], 'ivy');
    await context.close();
  });

  test('the demo: open app1, sign in on the dev form, see yourself in under a minute', async (t) => {
    const port = await freePort();
    const demo = start(['demo', '--port', String(port)]);
    t.after(() => demo.child.kill('SIGKILL'));
    await demo.waitForLine(/Press Ctrl-C to stop/);
    const context = await browser.newContext();
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(`http://app1.localhost:${port}/`);
    await page.fill('#user_id', 'dana@example.com');
    await page.fill('#name', 'Dana');
    await Promise.all([page.waitForURL(`http://app1.localhost:${port}/`), page.click('button[type=submit]')]);
    assert.match(await page.innerText('p'), /Signed in as dana@example\.com/);
    assert.ok(Date.now() - started < 60_000);
    await context.close();
    demo.child.kill('SIGINT');
    assert.equal((await demo.finished).code, 0);
  });
});
