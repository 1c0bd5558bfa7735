// GET /.auth/verify (forward-auth, docs/forward-auth.md) over HTTP as each proxy asks it: the same
// decisions as proxy mode (sessions, excludedPaths, unauthenticatedAction, access rules, the
// cross-site check), the headers the app gets, refusals shaped for the proxy, and refusals of
// anyone but a trusted proxy. The proxies themselves (nginx, Caddy) are in test/forward-auth/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { startGatewayHarness, type TestGateway } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';

// The proxy's address; the tests' other requests come from 127.0.0.1, which is not trusted.
const PROXY = '127.0.0.2';
const NAVIGATE = { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none', accept: 'text/html' };
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors' };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the gateway from `from`, headers exactly as given (Host included). */
function ask(port: number, path: string, headers: Record<string, string>, from = PROXY, method = 'GET') {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, localAddress: from }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject).end();
  });
}

describe('/.auth/verify', () => {
  let gw: TestGateway;
  let cookie: string;
  let adminCookie: string;
  const host = (name: string) => `${name}.localhost:${gw.port}`;
  /** nginx's shape, as the snippet sends it. */
  const nginx = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    ask(gw.port, '/.auth/verify', {
      host: host('wiki'),
      'x-forwarded-host': host('wiki'),
      'x-original-uri': path,
      'x-original-method': method,
      ...headers,
    });
  /** Traefik's shape: SignOnce's own Host, the app in X-Forwarded-*. */
  const traefik = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    ask(gw.port, '/.auth/verify', {
      host: `127.0.0.1:${gw.port}`,
      'x-forwarded-host': host('wiki'),
      'x-forwarded-uri': path,
      'x-forwarded-method': method,
      'x-forwarded-proto': 'http',
      ...headers,
    });

  before(async () => {
    gw = await startGatewayHarness(({ port, upstream }) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      trustedProxies: [PROXY],
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [
        {
          id: 'wiki',
          hosts: [`wiki.localhost:${port}`],
          defaultProvider: 'dev',
          excludedPaths: ['/public/*'],
          access: [
            { paths: ['/admin/*'], allow: { claims: { name: 'Ada' } } },
            { paths: ['/admin/*'], deny: { authenticated: true } },
            { allow: { authenticated: true } },
          ],
        },
        { id: 'api', mode: 'forwardAuth', hosts: [`api.localhost:${port}`], unauthenticatedAction: 'Return401' },
        { id: 'shop', hosts: [`shop.localhost:${port}`], upstream, defaultProvider: 'dev' },
      ],
    }));
    const signIn = async (fields: Record<string, string>) => {
      const { ua } = await devSignIn(gw.url('wiki.localhost', '/.auth/login/dev'), fields);
      return ua.cookieHeader(new URL(gw.url('wiki.localhost')))!;
    };
    cookie = await signIn({ user_id: 'frank@example.com', name: 'Frank' });
    adminCookie = await signIn({ user_id: 'ada@example.com', name: 'Ada' });
    assert.match(cookie, /AppServiceAuthSession=/);
  });
  after(() => gw?.close());

  test("signed in: 200 with the app's identity headers and the Cookie without SignOnce's, nothing the client sent echoed", async () => {
    for (const shape of [nginx, traefik]) {
      const answer = await shape('/page', {
        cookie: `${cookie}; theme=dark`,
        'x-ms-client-principal-name': 'mallory',
        'x-ms-client-principal-id': 'mallory',
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.body, '');
      assert.equal(answer.headers['x-ms-client-principal-name'], 'frank@example.com');
      assert.equal(answer.headers['x-ms-client-principal-idp'], 'dev');
      const principal = JSON.parse(Buffer.from(String(answer.headers['x-ms-client-principal']), 'base64').toString());
      assert.equal(principal.auth_typ, 'dev');
      assert.equal(answer.headers['x-signonce-cookie'], 'theme=dark');
      assert.equal(answer.headers['cache-control'], 'no-store');
    }
    const onlyOurs = await nginx('/page', { cookie });
    assert.equal(onlyOurs.headers['x-signonce-cookie'], '', 'no Cookie left for the app');
  });

  test('not signed in: a navigation is sent to sign in (302; 401 to nginx, which cannot pass a redirect on); an API caller gets 401', async () => {
    const expected = `/.auth/login/dev?post_login_redirect_uri=${encodeURIComponent('/page?q=1')}`;
    // nginx's auth_request takes no redirect: 401, and its snippet asks again in Traefik's shape.
    const fromNginx = await nginx('/page?q=1', NAVIGATE);
    assert.equal(fromNginx.status, 401);
    assert.equal(fromNginx.headers.location, undefined);
    const fromTraefik = await traefik('/page?q=1', NAVIGATE);
    assert.equal(fromTraefik.status, 302);
    assert.equal(fromTraefik.headers.location, expected);
    const envoy = await ask(gw.port, '/.auth/verify/page?q=1', { host: host('wiki'), ...NAVIGATE });
    assert.equal(envoy.status, 302);
    assert.equal(envoy.headers.location, expected);
    for (const shape of [nginx, traefik]) {
      const api = await shape('/page', API);
      assert.equal(api.status, 401);
      assert.equal(api.headers['www-authenticate'], 'Bearer realm="wiki"');
      assert.equal(api.headers.location, undefined);
    }
    // A navigation that is no GET (a form post) is not redirected either.
    assert.equal((await traefik('/page', NAVIGATE, 'POST')).status, 401);
    // Return401: never a redirect.
    const apiApp = await ask(gw.port, '/.auth/verify', {
      host: host('api'),
      'x-original-uri': '/orders',
      ...NAVIGATE,
    });
    assert.equal(apiApp.status, 401);
    assert.equal(apiApp.headers.location, undefined);
  });

  test('excluded paths pass without identity, spoofed headers not echoed; a path that only looks excluded does not', async () => {
    const open = await nginx('/public/logo.png', { 'x-ms-client-principal-name': 'mallory', ...API });
    assert.equal(open.status, 200);
    // Every identity header answered empty, so a proxy copying them by name removes the client's.
    for (const name of ['x-ms-client-principal', 'x-ms-client-principal-name', 'x-ms-client-principal-id'])
      assert.equal(open.headers[name], '', name);
    for (const sneaky of ['/public/../page', '/public/%2e%2e/page', '/public%2f..%2fpage'])
      assert.equal((await nginx(sneaky, API)).status, 401, sneaky);
  });

  test('access rules decide on the original path and method: 403 access_denied, the page for navigations', async () => {
    const denied = await nginx('/admin/users', { cookie, ...API });
    assert.equal(denied.status, 403);
    assert.equal(JSON.parse(denied.body).error, 'access_denied');
    const page = await traefik('/admin/users', { cookie, ...NAVIGATE });
    assert.equal(page.status, 403);
    assert.match(page.body, /frank@example\.com|Frank/);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.equal((await nginx('/admin/users', { cookie: adminCookie, ...API })).status, 200);
    assert.equal((await nginx('/page', { cookie, ...API })).status, 200);
    // Envoy's shape: the path after the prefix is what the rules read.
    assert.equal((await ask(gw.port, '/.auth/verify/admin/users', { host: host('wiki'), cookie, ...API })).status, 403);
  });

  test("a state-changing request or WebSocket upgrade from another site's page is refused with the user's cookie", async () => {
    const crossSite = { cookie, ...API, 'sec-fetch-site': 'cross-site' };
    assert.equal((await nginx('/page', crossSite, 'POST')).status, 403);
    // nginx's subrequest carries the client's Upgrade (the snippet passes it), never a Connection: upgrade.
    assert.equal((await nginx('/socket', { ...crossSite, upgrade: 'websocket' })).status, 403);
    // Caddy's forward_auth passes the upgrade itself on (Connection: upgrade): answered as a request.
    const upgrade = { upgrade: 'websocket', connection: 'upgrade' };
    assert.equal((await traefik('/socket', { ...crossSite, ...upgrade })).status, 403);
    const sameOrigin = await traefik('/socket', { ...crossSite, ...upgrade, 'sec-fetch-site': 'same-origin' });
    assert.equal(sameOrigin.status, 200);
    assert.equal(sameOrigin.headers['x-ms-client-principal-name'], 'frank@example.com');
    assert.equal((await nginx('/page', crossSite, 'GET')).status, 200, 'a cross-site GET is a link');
    assert.equal((await nginx('/page', { ...crossSite, 'sec-fetch-site': 'same-origin' }, 'POST')).status, 200);
  });

  test('refused: an asker not in trustedProxies, an ambiguous description, a host of no forward-auth app', async () => {
    const fromClient = await ask(
      gw.port,
      '/.auth/verify',
      { host: host('wiki'), 'x-original-uri': '/page', cookie },
      '127.0.0.1',
    );
    assert.equal(fromClient.status, 403);
    assert.match(JSON.parse(fromClient.body).error, /trustedProxies/);
    assert.ok(gw.logs.some((line) => line.includes('not in trustedProxies')));

    const twoHosts = await ask(gw.port, '/.auth/verify', {
      host: host('wiki'),
      'x-forwarded-host': `${host('api')}, ${host('wiki')}`,
      'x-forwarded-uri': '/',
      cookie,
    });
    assert.equal(twoHosts.status, 400);
    assert.match(JSON.parse(twoHosts.body).reason, /more than one value/);
    const absolute = await nginx('http://api.localhost/orders', { cookie });
    assert.equal(absolute.status, 400);

    const proxied = await ask(gw.port, '/.auth/verify', { host: host('shop'), 'x-original-uri': '/', cookie });
    assert.equal(proxied.status, 404, 'a proxy-mode app is not verified for another proxy');
    const unknown = await ask(gw.port, '/.auth/verify', { host: 'nowhere.localhost', 'x-original-uri': '/' });
    assert.equal(unknown.status, 404);
    assert.match(JSON.parse(unknown.body).error, /no forward-auth app has the host "nowhere\.localhost"/);
  });

  test("a forward-auth app's own paths are its proxy's: SignOnce answers 404 there and serves only /.auth/*", async () => {
    const page = await ask(gw.port, '/page', { host: host('wiki'), cookie }, '127.0.0.1');
    assert.equal(page.status, 404);
    assert.match(JSON.parse(page.body).error, /forward-auth/);
    const me = await ask(gw.port, '/.auth/me', { host: host('wiki'), cookie }, '127.0.0.1');
    assert.equal(me.status, 200);
    assert.equal((JSON.parse(me.body) as Array<{ user_id: string }>)[0]!.user_id, 'frank@example.com');
  });
});

test('config: forward-auth apps need trustedProxies; proxy mode needs an upstream', () => {
  const key = generateKey();
  const base = (apps: object[], trustedProxies?: string[]) =>
    JSON.stringify({
      publicUrl: 'https://auth.example.com',
      secrets: { encryptionKeys: [key] },
      providers: [{ id: 'dev', type: 'dev' }],
      devMode: true,
      apps,
      ...(trustedProxies ? { trustedProxies } : {}),
    });
  const problems = (text: string) => {
    try {
      parseConfig(text, 'signonce.yaml', {});
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  assert.deepEqual(problems(base([{ id: 'wiki', hosts: ['wiki.example.com'] }], ['10.0.0.5'])), []);
  const noProxies = problems(base([{ id: 'wiki', hosts: ['wiki.example.com'] }]));
  assert.equal(noProxies.length, 1);
  assert.match(noProxies[0]!, /^trustedProxies: is empty, but apps\[0\] is a forward-auth app/);
  const noUpstream = problems(base([{ id: 'wiki', mode: 'proxy', hosts: ['wiki.example.com'] }]));
  assert.deepEqual(noUpstream.length, 1);
  assert.match(noUpstream[0]!, /^apps\[0\]\.upstream: is required in proxy mode/);
  const badMode = problems(base([{ id: 'wiki', mode: 'forward', hosts: ['wiki.example.com'] }], ['10.0.0.5']));
  assert.match(badMode.join('\n'), /apps\[0\]\.mode/);
});
