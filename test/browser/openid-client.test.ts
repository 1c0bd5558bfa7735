// A single-page app signing in against SignOnce's OpenID Provider in Chromium with oidc-client-ts
// (a public client: code + PKCE, no secret), through a real upstream provider: the ID token's
// user, userinfo, a refresh with the refresh token, and RP-initiated logout back to the app.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { startGatewayWithIdp, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';

const LIBRARY = new URL('../../node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js', import.meta.url);

/** The app's script: sign in on "/", finish on "/cb", refresh and sign out when asked. */
const appScript = (authority: string) => `
const manager = new oidc.UserManager({
  authority: ${JSON.stringify(authority)}, client_id: 'spa', response_type: 'code',
  redirect_uri: location.origin + '/cb', post_logout_redirect_uri: location.origin + '/bye',
  scope: 'openid profile email offline_access', loadUserInfo: true,
});
const show = (value) => { document.getElementById('out').textContent = JSON.stringify(value); };
(async () => {
  try {
    if (location.pathname === '/') await manager.signinRedirect({ prompt: 'consent' });
    if (location.pathname === '/cb') {
      const user = await manager.signinRedirectCallback();
      show({ sub: user.profile.sub, email: user.profile.email, name: user.profile.name, accessToken: user.access_token, refresh: !!user.refresh_token });
    }
    if (location.pathname === '/bye') show({ signedOut: true });
  } catch (error) { show({ error: String(error) }); }
})();
document.getElementById('refresh').onclick = async () => {
  try { const user = await manager.signinSilent(); show({ accessToken: user.access_token }); } catch (error) { show({ error: String(error) }); }
};
document.getElementById('logout').onclick = () => manager.signoutRedirect();
`;

describe('oidc-client-ts in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let idp: TestIdp;
  let gw: TestGateway;
  let spa: Server;
  let spaOrigin: string;

  before(async () => {
    browser = await launchChromium();
    const spaPort = await freePort();
    spaOrigin = `http://spa.localhost:${spaPort}`;
    ({ gw, idp } = await startGatewayWithIdp((port, upstream, idp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'profile'],
        },
      ],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'idp' }],
      clients: [
        { id: 'spa', public: true, redirectUris: [`${spaOrigin}/cb`], postLogoutRedirectUris: [`${spaOrigin}/bye`] },
      ],
    })));
    const library = await readFile(LIBRARY, 'utf8');
    const script = appScript(`http://auth.localhost:${gw.port}`);
    spa = createServer((request, response) => {
      const path = new URL(request.url ?? '/', spaOrigin).pathname;
      if (path === '/oidc-client-ts.js')
        return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(library);
      if (path === '/app.js') return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end(
          '<!doctype html><pre id="out"></pre><button id="refresh">refresh</button><button id="logout">logout</button>' +
            '<script src="/oidc-client-ts.js"></script><script src="/app.js"></script>',
        );
    }).listen(spaPort, '127.0.0.1');
    await new Promise((resolve) => spa.once('listening', resolve));
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => spa?.close(resolve));
    await gw?.close();
    await idp?.close();
  });

  const output = async (page: Page) => {
    await page.waitForFunction("document.getElementById('out')?.textContent !== ''");
    return JSON.parse((await page.textContent('#out'))!) as Record<string, unknown>;
  };

  test('sign in with code + PKCE, userinfo, refresh, and sign out back to the app', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${spaOrigin}/`);
    await page.waitForURL(/\/interaction\//);
    await page.fill('input[name=login]', 'gwen');
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
    await Promise.all([page.waitForURL(`${spaOrigin}/cb**`), page.click('button[type=submit]')]);
    const signedIn = await output(page);
    assert.equal(signedIn.error, undefined, String(signedIn.error));
    assert.match(String(signedIn.sub), /^[0-9a-f-]{36}$/, 'the account id');
    assert.equal(signedIn.email, 'gwen@example.com', 'from userinfo');
    assert.equal(signedIn.refresh, true);

    await page.evaluate("document.getElementById('out').textContent = ''");
    await page.click('#refresh');
    const refreshed = await output(page);
    assert.equal(refreshed.error, undefined, String(refreshed.error));
    assert.notEqual(refreshed.accessToken, signedIn.accessToken, 'new tokens from the refresh token');

    await page.click('#logout');
    await page.waitForURL(/\/\.auth\/oidc\/session\/end/);
    await Promise.all([page.waitForURL(`${spaOrigin}/bye**`), page.click('button[value=yes]')]);
    assert.deepEqual(await output(page), { signedOut: true });
    assert.equal((await page.goto(gw.url('app.localhost', '/.auth/me')))!.status(), 401, 'signed out of SignOnce too');
    await context.close();
  });
});
