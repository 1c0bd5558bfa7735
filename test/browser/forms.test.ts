// Every form SignOnce serves, submitted in Chromium as a user does: the password sign-in and
// registration forms, consent (allow and deny) for a third-party OpenID client, the RP-initiated
// logout confirmation, linking (through the dev provider's form) and unlinking from a page of the
// app, and a form of the app itself. What a browser sends (Sec-Fetch-Site, and Origin under the
// page's Referrer-Policy) is what the cross-site check sees; an HTTP-level user agent does not show it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'a long and unusual passphrase';
const CLIENT_SECRET = 'partner-client-secret-0123456789abcdefghij';
const VERIFIER = 'a-verifier-of-at-least-43-characters-0123456789';

/**
 * The app behind SignOnce (and the OpenID client's redirect target): /account is a page of the
 * app with two forms, sent with helmet's default `Referrer-Policy: no-referrer` (so Chromium sends
 * `Origin: null` on its posts); anything else answers with the request it received, as JSON.
 */
async function startApp(): Promise<{ url: string; port: number; server: Server }> {
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/account') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'referrer-policy': 'no-referrer' });
      return void response.end(`<!doctype html><title>Account</title>
<form method="post" action="/.auth/unlink/dev"><button id="unlink">Unlink the dev sign-in</button></form>
<form method="post" action="/notes"><input name="note" value="remember the milk"><button id="save">Save</button></form>`);
    }
    let body = '';
    request
      .setEncoding('utf8')
      .on('data', (chunk: string) => {
        body += chunk;
      })
      .on('end', () => {
        const echo: Echo = { method: request.method!, url: request.url!, headers: request.headers, body };
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echo));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, server };
}

describe("SignOnce's forms in Chromium", { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let app: Awaited<ReturnType<typeof startApp>>;
  let gw: TestGateway;
  let store: Store;
  let rp: string;
  /** A site an app allows as the end of a sign-in (allowedExternalRedirectUrls). */
  let partner: string;

  before(async () => {
    browser = await launchChromium();
    app = await startApp();
    rp = `http://rp.localhost:${app.port}`;
    partner = `http://partner.localhost:${app.port}`;
    gw = await startTestGateway((port) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [
        { id: 'local', type: 'password', allowRegistration: true },
        { id: 'dev', type: 'dev' },
      ],
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream: app.url,
          defaultProvider: 'local',
          allowedExternalRedirectUrls: [`${partner}/return`, 'myapp://easyauth.callback'],
        },
      ],
      clients: [
        {
          id: 'partner',
          secret: CLIENT_SECRET,
          redirectUris: [`${rp}/partner/cb`],
          postLogoutRedirectUris: [`${rp}/bye`],
          firstParty: false,
        },
        { id: 'wiki', secret: CLIENT_SECRET, redirectUris: [`${rp}/wiki/cb`] },
      ],
    }));
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  });
  after(async () => {
    await browser?.close();
    await store?.close();
    await gw?.close();
    app?.server.closeAllConnections();
    await new Promise((resolve) => app?.server.close(resolve));
  });

  /** Clicks `selector` (a form's button) and waits for the page the submission leads to. */
  const submit = (page: Page, selector: string) => Promise.all([page.waitForNavigation(), page.click(selector)]);
  /** The page is at `url` (else: what the page says). */
  const landedAt = async (page: Page, url: string | RegExp) =>
    assert.match(
      page.url(),
      typeof url === 'string' ? new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) : url,
      await page.innerText('body'),
    );
  const echoOf = async (page: Page) => JSON.parse(await page.innerText('body')) as Echo;
  const meOf = async (page: Page) => {
    const answer = (await page.goto(gw.url('app.localhost', '/.auth/me')))!;
    return answer.status() === 200
      ? ((await answer.json()) as Array<{ provider_name: string; user_id: string }>).map((e) => [
          e.provider_name,
          e.user_id,
        ])
      : answer.status();
  };

  /** The authorization request of OpenID client `client` (code flow, PKCE). */
  const authorizationUrl = (client: string) =>
    gw.url(
      'auth.localhost',
      `/.auth/oidc/auth?${new URLSearchParams({
        client_id: client,
        response_type: 'code',
        scope: 'openid email',
        state: 'st',
        redirect_uri: `${rp}/${client}/cb`,
        code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
        code_challenge_method: 'S256',
      })}`,
    );
  /** Where the page sent the client back to, with what. */
  const atClient = async (page: Page) => new URL((await echoOf(page)).url, rp);
  /** The client redeems `code`: the claims of the ID token it gets. */
  async function redeem(client: string, code: string): Promise<{ sub: string }> {
    const tokens = await new UserAgent().request(gw.url('auth.localhost', '/.auth/oidc/token'), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client}:${CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: `${rp}/${client}/cb`,
        code_verifier: VERIFIER,
      }).toString(),
    });
    assert.equal(tokens.status, 200);
    const idToken = ((await tokens.json()) as { id_token: string }).id_token;
    return JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as { sub: string };
  }

  /** A new browser signs in at the app with SignOnce's password form; the page landed on. */
  async function passwordSignIn(
    username: string,
    start = gw.url('app.localhost', '/reports?year=2026'),
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(start);
    assert.match(page.url(), /\/\.auth\/login\/local\/form\?state=/, "at SignOnce's password form");
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await submit(page, 'button[type=submit]');
    return { context, page };
  }

  test('password sign-in: an account an administrator made signs in; the app sees the user', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'olga', PASSWORD, 12)).ok);
    const { context, page } = await passwordSignIn('olga');
    await landedAt(page, gw.url('app.localhost', '/reports?year=2026'));
    const echo = await echoOf(page);
    assert.equal(echo.headers['x-ms-client-principal-name'], 'olga');
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'local');
    await context.close();

    // A sign-in that ends at a URL outside the app the app's config allows (allowedExternalRedirectUrls).
    const elsewhere = await passwordSignIn(
      'olga',
      gw.url('app.localhost', `/.auth/login/local?post_login_redirect_uri=${encodeURIComponent(`${partner}/return`)}`),
    );
    await landedAt(elsewhere.page, `${partner}/return`);
    await elsewhere.context.close();
  });

  test('registration: a new user creates an account on the form and is signed in to the app', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const form = await page.goto(gw.url('app.localhost', '/welcome'));
    // An app scheme a sign-in may end at (a native app's browser) is a form-action source too.
    assert.match(form!.headers()['content-security-policy']!, /form-action 'self' [^;]* myapp:[ ;]/);
    await submit(page, 'text=No account yet? Create one');
    await landedAt(page, /\/register\?state=/);
    await page.fill('#username', 'Pablo');
    await page.fill('#password', PASSWORD);
    await page.fill('#confirm', PASSWORD);
    await submit(page, 'button[type=submit]');
    await landedAt(page, gw.url('app.localhost', '/welcome'));
    const echo = await echoOf(page);
    assert.equal(echo.headers['x-ms-client-principal-name'], 'pablo');
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'local');
    await context.close();
  });

  test('consent for a third-party client: "Deny" sends access_denied, "Allow" a code the client redeems for the user; logout confirmation: "Stay signed in" keeps, "Sign out" ends the session', async () => {
    const registered = await new LocalAccounts(store).register('local', 'quinn', PASSWORD, 12);
    assert.ok(registered.ok);
    const { context, page } = await passwordSignIn('quinn');
    await landedAt(page, gw.url('app.localhost', '/reports?year=2026'));
    const authorize = () => page.goto(authorizationUrl('partner'));

    await authorize();
    assert.match(await page.innerText('h1'), /Allow partner\?/, 'the consent page, no sign-in asked again');
    await submit(page, 'button[value=deny]');
    await landedAt(page, `${rp}/partner/cb?`);
    assert.equal((await atClient(page)).searchParams.get('error'), 'access_denied');

    await authorize();
    await submit(page, 'button[value=allow]');
    await landedAt(page, `${rp}/partner/cb?`);
    const code = (await atClient(page)).searchParams.get('code');
    assert.ok(code, 'a code for the client');
    assert.equal((await redeem('partner', code)).sub, registered.accountId, 'the client knows the user');

    const endSession = () =>
      page.goto(
        gw.url(
          'auth.localhost',
          `/.auth/oidc/session/end?client_id=partner&post_logout_redirect_uri=${encodeURIComponent(`${rp}/bye`)}`,
        ),
      );
    await endSession();
    assert.match(await page.innerText('h1'), /Sign out\?/);
    await submit(page, 'text=Stay signed in');
    await landedAt(page, `${rp}/bye`);
    assert.deepEqual(await meOf(page), [['local', 'quinn']], 'still signed in');

    // The client signs in again (its OpenID session ended with "Stay signed in"), asking again.
    await authorize();
    await submit(page, 'button[value=allow]');
    assert.ok((await atClient(page)).searchParams.get('code'), 'a code for the client');
    await endSession();
    await submit(page, 'button[value=yes]');
    await landedAt(page, `${rp}/bye`);
    assert.equal(await meOf(page), 401, 'signed out of SignOnce');
    await context.close();
  });

  test('an OpenID client (first party): the password form signs the user in, back at the client with a code for the user', async () => {
    const registered = await new LocalAccounts(store).register('local', 'tess', PASSWORD, 12);
    assert.ok(registered.ok);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(authorizationUrl('wiki'));
    await submit(page, 'text=Sign in with Username and password');
    await landedAt(page, /\/\.auth\/login\/local\/form\?state=/);
    await page.fill('#username', 'tess');
    await page.fill('#password', PASSWORD);
    await submit(page, 'button[type=submit]');
    await landedAt(page, `${rp}/wiki/cb?`);
    const code = (await atClient(page)).searchParams.get('code');
    assert.ok(code, 'a code for the client');
    assert.equal((await redeem('wiki', code)).sub, registered.accountId);
    await context.close();
  });

  test("link another sign-in through the dev provider's form, unlink it from a page of the app; the app's own form posts with the user", async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'rosa', PASSWORD, 12)).ok);
    const { context, page } = await passwordSignIn('rosa');
    await landedAt(page, gw.url('app.localhost', '/reports?year=2026'));
    await page.goto(gw.url('app.localhost', '/.auth/link/dev?post_login_redirect_uri=/settings'));
    assert.match(await page.innerText('h1'), /Development sign-in/);
    await page.fill('#user_id', 'rosa-dev');
    await page.fill('#name', 'rosa-dev');
    await submit(page, 'button[type=submit]');
    await landedAt(page, gw.url('app.localhost', '/settings'));
    assert.deepEqual(
      await meOf(page),
      [
        ['local', 'rosa'],
        ['dev', 'rosa-dev'],
      ],
      'both sign-ins, one account',
    );

    await page.goto(gw.url('app.localhost', '/account'));
    await submit(page, '#unlink');
    await landedAt(page, gw.url('app.localhost', '/.auth/unlink/dev'));
    assert.deepEqual(
      JSON.parse(await page.innerText('body')),
      { unlinked: 'dev', signedOut: false },
      'the session signed in with the password stays',
    );
    assert.deepEqual(await meOf(page), [['local', 'rosa']]);

    await page.goto(gw.url('app.localhost', '/account'));
    await submit(page, '#save');
    await landedAt(page, gw.url('app.localhost', '/notes'));
    const echo = await echoOf(page);
    assert.deepEqual([echo.method, echo.body], ['POST', 'note=remember+the+milk']);
    assert.equal(echo.headers['x-ms-client-principal-name'], 'rosa');
    await context.close();
  });

  test("the dev provider's form signs in and lands on the page asked for", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(gw.url('app.localhost', '/.auth/login/dev?post_login_redirect_uri=/inbox'));
    await page.fill('#user_id', 'sam@example.com');
    await submit(page, 'button[type=submit]');
    await landedAt(page, gw.url('app.localhost', '/inbox'));
    assert.equal((await echoOf(page)).headers['x-ms-client-principal-name'], 'sam@example.com');
    await context.close();
  });
});
