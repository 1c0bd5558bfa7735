// The browser build of signonce/client in Chromium, in a single-page app behind the gateway: a
// redirect sign-in through a real provider, fetch through the gateway as the user, a refresh, and
// logout. (The build itself proves the browser path has no Node-only import: esbuild bundles it
// for the browser platform.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { browserClientBundle } from '../support/client-bundle.ts';
import { startGatewayWithIdp, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';

// The app's page: signs in when asked, finishes on /cb, then works through the client.
const PAGE = `<!doctype html><pre id="out"></pre><script src="/client.js"></script><script src="/app.js"></script>`;
const APP = `
const client = new SignOnce.SignOnceClient({ url: location.origin, app: 'web', cache: new SignOnce.BrowserStorageCache(sessionStorage), refreshBeforeSeconds: 86400 });
const show = (value) => { document.getElementById('out').textContent = JSON.stringify(value); };
window.run = async (action) => {
  try {
    if (action === 'login') return client.loginWithRedirect({ provider: 'idp', returnTo: '/cb' });
    if (action === 'callback') return show({ user: await client.handleRedirectCallback(), url: location.href });
    if (action === 'call') {
      const answer = await client.fetch('/api/whoami');
      return show({ status: answer.status, echo: await answer.json() });
    }
    if (action === 'logout') { await client.logout(); return show({ user: await client.user() ?? null }); }
  } catch (error) { show({ error: String(error) }); }
};
if (location.pathname === '/cb') window.run('callback');
`;

describe('signonce/client in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let idp: TestIdp;
  let gw: TestGateway;
  let app: Server;

  before(async () => {
    browser = await launchChromium();
    const bundle = await browserClientBundle();
    // The app: its page and script for anyone; /api answers with the request (identity headers included).
    app = createServer((request, response) => {
      if (request.url === '/client.js' || request.url === '/app.js') {
        return void response
          .writeHead(200, { 'content-type': 'text/javascript' })
          .end(request.url === '/client.js' ? bundle : APP);
      }
      if (request.url?.startsWith('/api/'))
        return void response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ headers: request.headers }));
      response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => app.once('listening', resolve));
    ({ gw, idp } = await startGatewayWithIdp((port, _upstream, idp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'offline_access'],
          authorizationParams: { prompt: 'consent' },
        },
      ],
      // The page and script are public; the API is authenticated by the client's token.
      apps: [
        {
          id: 'web',
          hosts: [`web.localhost:${port}`],
          upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
          unauthenticatedAction: 'AllowAnonymous',
          // The page that receives #token= is listed: a redirect sign-in's token goes nowhere else.
          allowedExternalRedirectUrls: [`http://web.localhost:${port}/cb`],
        },
      ],
    })));
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await idp?.close();
    await new Promise((resolve) => app?.close(resolve));
  });

  const run = async (page: Page, action: string) => {
    await page.evaluate(`document.getElementById('out').textContent = ''; window.run(${JSON.stringify(action)})`);
    await page.waitForFunction("document.getElementById('out').textContent !== ''");
    return JSON.parse((await page.textContent('#out'))!) as Record<string, unknown>;
  };

  test('redirect sign-in, fetch as the user, refresh, logout', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(gw.url('web.localhost', '/'));
    await Promise.all([page.waitForURL(/\/interaction\//), page.evaluate("window.run('login')")]);
    await page.fill('input[name=login]', 'hana');
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
    await Promise.all([page.waitForURL(gw.url('web.localhost', '/cb')), page.click('button[type=submit]')]);
    await page.waitForFunction("document.getElementById('out').textContent !== ''");
    const signedIn = JSON.parse((await page.textContent('#out'))!) as {
      user?: { userId: string };
      url: string;
      error?: string;
    };
    assert.equal(signedIn.error, undefined, signedIn.error);
    assert.match(signedIn.user!.userId, /^[0-9a-f-]{36}$/);
    assert.equal(signedIn.url, gw.url('web.localhost', '/cb'), 'the token left the address bar and the history');

    const refreshes = () => gw.requestsTo('/.auth/refresh');
    const before = refreshes();
    const called = (await run(page, 'call')) as { status: number; echo: { headers: Record<string, string> } };
    assert.equal(called.status, 200);
    assert.equal(
      called.echo.headers['x-ms-client-principal-name'],
      'hana@example.com',
      "the gateway authenticated the client's token",
    );
    assert.equal(called.echo.headers['x-zumo-auth'], undefined, 'and did not pass it on');
    assert.equal(
      refreshes() - before,
      1,
      'renewed through /.auth/refresh first (refreshBeforeSeconds covers the whole lifetime)',
    );

    assert.deepEqual(await run(page, 'logout'), { user: null });
    const after = await run(page, 'call');
    assert.match(String(after.error), /not signed in/);
  });
});
