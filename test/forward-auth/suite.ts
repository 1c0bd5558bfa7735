// Forward-auth as users meet it: a real proxy (nginx, Caddy) started with the configuration
// `signonce snippet` prints, in front of an echo app, SignOnce deciding. Chromium signs in through
// the proxy; the app gets the identity headers and never a client's, nor SignOnce's cookie;
// excluded paths stay public; 401 for API callers, 403 by access rules; sign-out; single sign-on
// with an app SignOnce proxies itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { Browser, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { snippetFor } from '../../src/cli/snippet.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { startGatewayHarness, type Echo, type TestGateway } from '../support/gateway.ts';
import type { RunningProxy } from '../support/proxies.ts';

const PASSWORD = 'a long and unusual passphrase';
const SPOOFED = {
  'X-MS-CLIENT-PRINCIPAL-NAME': 'mallory',
  'X-MS-CLIENT-PRINCIPAL-ID': 'mallory',
  'X-MS-CLIENT-PRINCIPAL': Buffer.from('{"auth_typ":"aad","claims":[]}').toString('base64'),
  'X-MS-TOKEN-LOCAL-ACCESS-TOKEN': 'forged',
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request through the proxy with the target exactly as given (no client normalises it). */
function raw(port: number, host: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject).end();
  });
}

/**
 * The suite for one proxy: `start` runs it with the snippet (its listen line bound to loopback and
 * the proxy's port, `{{port}}`, by `bindToTestPort`).
 */
export function forwardAuthSuite(
  kind: 'nginx' | 'caddy',
  skip: string | undefined,
  start: (config: string) => Promise<RunningProxy>,
  bindToTestPort: (snippet: string) => string,
) {
  describe(`forward-auth behind ${kind}`, { skip: skip ?? chromiumSkipReason }, () => {
    let gw: TestGateway;
    let proxy: RunningProxy;
    let browser: Browser;
    let app: Server;
    const wiki = (path: string) => `http://wiki.localhost:${proxy.port}${path}`;
    const shop = (path: string) => gw.url('shop.localhost', path);
    const wikiHost = () => `wiki.localhost:${proxy.port}`;

    before(async () => {
      // The app: echoes each request as JSON; a WebSocket greets with who it was told the user is.
      app = createServer((request, response) => {
        const echo: Echo = { method: request.method!, url: request.url!, headers: request.headers, body: '' };
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echo));
      });
      new WebSocketServer({ server: app }).on('connection', (socket, request) =>
        socket.send(`hello ${request.headers['x-ms-client-principal-name'] || 'anonymous'}`),
      );
      await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
      const upstream = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
      gw = await startGatewayHarness(({ port }) => ({
        publicUrl: `http://auth.localhost:${port}`,
        trustedProxies: ['127.0.0.1'],
        providers: [{ id: 'local', type: 'password' }],
        apps: [
          {
            id: 'wiki',
            mode: 'forwardAuth',
            // Any port: the proxy's, chosen when it starts.
            hosts: ['wiki.localhost'],
            upstream,
            defaultProvider: 'local',
            excludedPaths: ['/public/*'],
            access: [
              { paths: ['/admin/*'], allow: { groups: ['admins'] } },
              { paths: ['/admin/*'], deny: { authenticated: true } },
              { allow: { authenticated: true } },
            ],
          },
          { id: 'shop', hosts: [`shop.localhost:${port}`], upstream, defaultProvider: 'local' },
        ],
      }));
      const store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
      try {
        assert.ok((await new LocalAccounts(store).register('local', 'ann', PASSWORD, 12)).ok);
      } finally {
        await store.close();
      }
      const snippet = snippetFor(kind, gw.config, 'wiki', { listen: 80 });
      assert.ok('text' in snippet, JSON.stringify(snippet));
      proxy = await start(bindToTestPort(snippet.text));
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await proxy?.close();
      await gw?.close();
      app?.closeAllConnections();
      app?.close();
    });

    /** A WebSocket to the app through the proxy: its greeting, or the refusal's status. */
    const socketTo = (headers: Record<string, string>) =>
      new Promise<{ greeting?: string; status?: number }>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/live`, {
          headers: { host: wikiHost(), ...headers },
        });
        socket.once('message', (data) => {
          resolve({ greeting: String(data) });
          socket.close();
        });
        socket.once('unexpected-response', (_request, response) => {
          resolve({ status: response.statusCode! });
          socket.terminate();
        });
        socket.once('error', reject);
      });

    const echoOf = async (page: Page): Promise<Echo> => JSON.parse(await page.innerText('body')) as Echo;
    async function signIn(page: Page) {
      assert.match(
        page.url(),
        /\/\.auth\/login\/local\/form\?state=/,
        `${page.url()}: ${await page.innerText('body')}`,
      );
      await page.fill('#username', 'ann');
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    }

    test('in Chromium: sign in through the proxy, the app gets who it is (never a spoofed header nor the session cookie), single sign-on to a proxied app, sign out', async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.setExtraHTTPHeaders(SPOOFED);
        await page.goto(wiki('/page?q=1'));
        await signIn(page);
        assert.equal(page.url(), wiki('/page?q=1'), 'back where the user was going');
        const echo = await echoOf(page);
        assert.equal(echo.url, '/page?q=1');
        assert.equal(echo.headers['x-ms-client-principal-name'], 'ann');
        assert.equal(echo.headers['x-ms-client-principal-idp'], 'local');
        const principal = JSON.parse(Buffer.from(String(echo.headers['x-ms-client-principal']), 'base64').toString());
        assert.equal(principal.auth_typ, 'local');
        assert.ok(!echo.headers['x-ms-token-local-access-token'], 'the forged token header is gone');
        assert.doesNotMatch(JSON.stringify(echo.headers), /mallory|forged/);
        assert.doesNotMatch(
          String(echo.headers.cookie ?? ''),
          /AppServiceAuthSession/,
          "SignOnce's cookie stays with SignOnce",
        );

        // Single sign-on: SignOnce's own proxy-mode app, no form this time.
        await page.setExtraHTTPHeaders({});
        await page.goto(shop('/'));
        assert.equal((await echoOf(page)).headers['x-ms-client-principal-name'], 'ann');

        // WebSockets: the signed-in user's pass, with identity; not from another site's page, nor without a session.
        const cookie = (await context.cookies(wiki('/'))).map((c) => `${c.name}=${c.value}`).join('; ');
        const origin = `http://${wikiHost()}`;
        assert.deepEqual(await socketTo({ cookie, origin }), { greeting: 'hello ann' });
        assert.deepEqual(await socketTo({ cookie, origin: 'http://evil.localhost' }), { status: 403 });
        assert.deepEqual(await socketTo({ origin }), { status: 401 });

        // Sign out at the forward-auth app: the next visit asks to sign in again.
        await page.goto(wiki('/.auth/logout'));
        await page.goto(wiki('/page'));
        assert.match(page.url(), /\/\.auth\/login\/local\/form\?state=/);
      } finally {
        await context.close();
      }
    });

    test('in Chromium: an excluded path is public, with no identity whatever the client sends; access rules refuse with 403', async () => {
      const context = await browser.newContext({ extraHTTPHeaders: SPOOFED });
      try {
        const page = await context.newPage();
        const open = await page.goto(wiki('/public/logo.png'));
        assert.equal(open!.status(), 200);
        const echo = await echoOf(page);
        assert.equal(echo.url, '/public/logo.png');
        for (const name of Object.keys(SPOOFED)) assert.ok(!echo.headers[name.toLowerCase()], name);

        await page.goto(wiki('/admin/users'));
        await signIn(page);
        assert.equal(page.url(), wiki('/admin/users'));
        const refused = await page.reload();
        assert.equal(refused!.status(), 403, 'ann is no admin');
        // SignOnce's page, whichever proxy: who the user is, and a way to sign in with another account.
        assert.match(await page.innerText('body'), /ann/);
        assert.ok(await page.isVisible('a[href*="/.auth/logout"]'), await page.content());
      } finally {
        await context.close();
      }
    });

    test('API callers get 401 with the challenge, never a redirect; a path that only looks excluded is not; clients cannot ask /.auth/verify', async () => {
      const api = await raw(proxy.port, wikiHost(), '/orders', { accept: 'application/json', ...SPOOFED });
      assert.equal(api.status, 401);
      assert.equal(api.headers['www-authenticate'], 'Bearer realm="wiki"');
      assert.equal(api.headers.location, undefined);
      assert.deepEqual(JSON.parse(api.body), { error: 'not signed in' });
      for (const sneaky of ['/public/%2e%2e/orders', '/public/..%2forders', '/public%2f..%2forders'])
        assert.equal((await raw(proxy.port, wikiHost(), sneaky, { accept: 'application/json' })).status, 401, sneaky);
      const verify = await raw(proxy.port, wikiHost(), '/.auth/verify', {
        'x-original-uri': '/public/x',
        'x-forwarded-uri': '/public/x',
      });
      assert.equal(verify.status, 404);
      // The client's own description of the request changes nothing.
      const described = await raw(proxy.port, wikiHost(), '/orders', {
        accept: 'application/json',
        'x-original-uri': '/public/x',
        'x-forwarded-uri': '/public/x',
        'x-forwarded-host': `shop.localhost:${gw.port}`,
      });
      assert.ok([401, 500].includes(described.status), `refused: ${described.status}`);
    });
  });
}
