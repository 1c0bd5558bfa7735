// End to end over HTTP: a real OpenID provider (oidc-provider) on loopback, SignOnce in front of
// two echo apps, a scripted user agent with a cookie jar.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { githubStyle, startOidcProvider, type TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';
import { startOAuth1Server, type OAuth1Server } from '../support/oauth1-server.ts';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';
import { nativeOidcTokens, oidcSignIn } from '../support/sign-in.ts';

const WS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';

describe('sign-in through a real OpenID provider', () => {
  let idp: TestIdp;
  let gw: TestGateway;
  let deadPort: number;
  let twitter: OAuth1Server;

  before(async () => {
    deadPort = await freePort();
    twitter = await startOAuth1Server();
    let gatewayPort = 0;
    idp = await startOidcProvider([]);
    gw = await startTestGateway((port, upstream) => {
      gatewayPort = port;
      return {
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
          { id: 'down', type: 'oidc', issuer: `http://127.0.0.1:${deadPort}`, clientId: 'x' },
          // The right client with the wrong secret: the token endpoint refuses the code exchange.
          {
            id: 'badsecret',
            type: 'oidc',
            issuer: idp.issuer,
            clientId: idp.clientId,
            clientSecret: 'wrong-secret-0123456789abcdef012345',
          },
          // The same server as a plain OAuth 2 provider, through the github preset's shape.
          { id: 'gh', ...githubStyle(idp) },
          // An OAuth 1.0a server through the twitter preset's shape.
          {
            id: 'twitter',
            type: 'twitter',
            consumerKey: twitter.consumerKey,
            consumerSecret: twitter.consumerSecret,
            requestTokenUrl: `${twitter.url}/oauth/request_token`,
            authorizeUrl: `${twitter.url}/oauth/authenticate`,
            accessTokenUrl: `${twitter.url}/oauth/access_token`,
            userinfoUrl: `${twitter.url}/1.1/account/verify_credentials.json?include_email=true`,
          },
        ],
        apps: [
          {
            id: 'app1',
            hosts: [`app1.localhost:${port}`],
            upstream,
            defaultProvider: 'idp',
            tokenStore: true,
            excludedPaths: ['/public/*'],
            allowedExternalRedirectUrls: ['myapp://easyauth.callback'],
          },
          { id: 'app2', hosts: [`app2.localhost:${port}`], upstream, unauthenticatedAction: 'Return401' },
          { id: 'solo', hosts: [`solo.localhost:${port}`], upstream, defaultProvider: 'idp', sso: false },
          { id: 'exit', hosts: [`exit.localhost:${port}`], upstream, defaultProvider: 'idp', providerLogout: true },
          {
            id: 'native',
            hosts: [`native.localhost:${port}`],
            upstream,
            defaultProvider: 'idp',
            tokenStore: true,
            exposeRefreshTokens: true,
          },
        ],
      };
    });
    // The IdP must know the callback, which depends on the gateway's port.
    await idp.close();
    idp = await startOidcProvider(
      ['idp', 'gh', 'badsecret'].map((id) => `http://auth.localhost:${gatewayPort}/.auth/login/${id}/callback`),
      idp,
    );
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
    await twitter?.close();
  });

  /** Signs `user` in to app1 from `path`; the user agent and the echo of the landing request. */
  async function signIn(path = '/protected?x=1', user = 'alice') {
    const ua = new UserAgent();
    const login = await ua.navigate(gw.url('app1.localhost', path));
    assert.match(finalUrl(login), /\/interaction\//, "sent to the provider's login page");
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
    const landed = await ua.submitForm(finalUrl(consent), await consent.text());
    return { ua, landed, echo: (await landed.json()) as Echo };
  }

  test('a protected path leads through the provider back to that path, with the identity headers', async () => {
    const { ua, landed, echo } = await signIn();
    assert.equal(finalUrl(landed), gw.url('app1.localhost', '/protected?x=1'));
    assert.equal(echo.url, '/protected?x=1');
    const h = echo.headers;
    assert.equal(h['x-ms-client-principal-name'], 'alice@example.com');
    assert.equal(h['x-ms-client-principal-id'], 'alice');
    assert.equal(h['x-ms-client-principal-idp'], 'idp');
    const principal = JSON.parse(Buffer.from(String(h['x-ms-client-principal']), 'base64').toString('utf8'));
    assert.equal(principal.auth_typ, 'idp');
    assert.equal(principal.name_typ, `${WS}/name`);
    assert.equal(principal.role_typ, 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role');
    const claim = (typ: string) => principal.claims.find((c: { typ: string }) => c.typ === typ)?.val;
    assert.equal(claim('sub'), 'alice');
    assert.equal(claim(`${WS}/nameidentifier`), 'alice');
    assert.equal(claim(`${WS}/emailaddress`), 'alice@example.com');
    assert.match(String(h['x-ms-token-idp-access-token']), /\S{20,}/);
    assert.match(String(h['x-ms-token-idp-id-token']), /^ey/);
    assert.ok(!Number.isNaN(Date.parse(String(h['x-ms-token-idp-expires-on']))));
    assert.equal(h['x-ms-token-idp-refresh-token'], undefined, 'refresh tokens only with exposeRefreshTokens');
    assert.equal(h.cookie, undefined, "SignOnce's cookies never reach the app");
    assert.equal(h['x-forwarded-host'], `app1.localhost:${gw.port}`);
    // The session cookie: HttpOnly, SameSite=Lax, host-only.
    assert.ok(ua.jar.get(`app1.localhost:${gw.port}`)?.has('AppServiceAuthSession'));
    assert.ok(!ua.jar.get(`auth.localhost:${gw.port}`)?.has('AppServiceAuthSession'));
  });

  test("/.auth/me answers Easy Auth's shape; 401 when not signed in", async () => {
    const { ua } = await signIn('/');
    const me = await ua.request(gw.url('app1.localhost', '/.auth/me'));
    assert.equal(me.status, 200);
    const [entry] = (await me.json()) as Array<Record<string, unknown>>;
    assert.deepEqual(Object.keys(entry!).sort(), [
      'access_token',
      'expires_on',
      'id_token',
      'provider_name',
      'user_claims',
      'user_id',
    ]);
    assert.equal(entry!.provider_name, 'idp');
    assert.equal(entry!.user_id, 'alice@example.com');
    assert.equal((await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'))).status, 401);
  });

  test('client-sent identity headers never reach the app, however spelt', async () => {
    const { ua } = await signIn('/');
    const response = await ua.request(gw.url('app1.localhost', '/spoof'), {
      headers: {
        'X-MS-CLIENT-PRINCIPAL-NAME': 'mallory',
        x_ms_client_principal_id: 'mallory',
        'X-MS-TOKEN-IDP-ACCESS-TOKEN': 'forged',
      },
    });
    const echo = (await response.json()) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-name'], 'alice@example.com');
    assert.notEqual(echo.headers['x-ms-token-idp-access-token'], 'forged');
    assert.ok(!Object.keys(echo.headers).some((name) => name.includes('_')), 'no underscore spelling passes');
  });

  test('a cookie is valid only on the host that received it; tampered, revoked or expired cookies are nothing', async () => {
    const { ua } = await signIn('/');
    const cookie = ua.jar.get(`app1.localhost:${gw.port}`)!.get('AppServiceAuthSession')!.value;
    const onApp2 = await new UserAgent().request(gw.url('app2.localhost', '/'), {
      headers: { cookie: `AppServiceAuthSession=${cookie}` },
    });
    assert.equal(onApp2.status, 401, "app2 refuses app1's cookie");
    const flipped = `${cookie.slice(0, -5)}${cookie.at(-5) === 'A' ? 'B' : 'A'}${cookie.slice(-4)}`;
    for (const value of [flipped, 'garbage', '', `${cookie}x`]) {
      const response = await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'), {
        headers: { cookie: `AppServiceAuthSession=${value}` },
      });
      assert.equal(response.status, 401, value);
    }
    const logout = await ua.request(gw.url('app1.localhost', '/.auth/logout'));
    assert.equal(logout.status, 302);
    assert.equal(logout.headers.get('location'), '/.auth/logout/complete');
    assert.equal((await ua.request(gw.url('app1.localhost', '/.auth/me'))).status, 401);
    const replayed = await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'), {
      headers: { cookie: `AppServiceAuthSession=${cookie}` },
    });
    assert.equal(replayed.status, 401, 'a revoked session stays revoked');
  });

  test('single sign-on: app2 on another host signs in without the provider; logout at app2 signs app1 out too', async () => {
    const { ua } = await signIn('/');
    const asked = idp.authorizationRequests;
    const landed = await ua.navigate(gw.url('app2.localhost', '/.auth/login/idp?post_login_redirect_uri=/inbox'));
    assert.equal(finalUrl(landed), gw.url('app2.localhost', '/inbox'));
    assert.equal(idp.authorizationRequests, asked, 'the provider was not asked again');
    assert.equal(((await landed.json()) as Echo).headers['x-ms-client-principal-name'], 'alice@example.com');
    assert.ok(ua.jar.get(`app2.localhost:${gw.port}`)?.has('AppServiceAuthSession'), 'app2 has a cookie of its own');

    const fresh = await ua.navigate(gw.url('app2.localhost', '/.auth/login/idp?prompt=login'));
    assert.match(finalUrl(fresh), /\/interaction\//, 'prompt=login asks the provider again');
    const solo = await ua.navigate(gw.url('solo.localhost', '/'));
    assert.match(finalUrl(solo), /\/interaction\//, 'an app with sso: false signs in by itself');
    assert.equal(idp.authorizationRequests, asked + 2);

    assert.equal((await ua.request(gw.url('app2.localhost', '/.auth/logout'))).status, 302);
    assert.equal((await ua.request(gw.url('app2.localhost', '/.auth/me'))).status, 401);
    assert.equal((await ua.request(gw.url('app1.localhost', '/.auth/me'))).status, 401, 'signed out of app1 too');
    const again = await ua.navigate(gw.url('app1.localhost', '/.auth/login/idp'));
    assert.match(finalUrl(again), /\/interaction\//, 'the single sign-on session ended with it');
  });

  test('providerLogout: signing out of the app signs out at the provider too, and comes back to the app', async () => {
    const ua = new UserAgent();
    const login = await ua.navigate(gw.url('exit.localhost', '/'));
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: 'oscar', password: 'any' });
    assert.equal((await ua.submitForm(finalUrl(consent), await consent.text())).status, 200);
    const confirm = await ua.navigate(
      gw.url('exit.localhost', '/.auth/logout?post_logout_redirect_uri=/.auth/logout/complete'),
    );
    assert.ok(
      ua.visited.some((url) => url.startsWith(`${idp.issuer}/session/end`)),
      "sent to the provider's end-session endpoint",
    );
    const back = await ua.submitForm(finalUrl(confirm), await confirm.text(), { logout: 'yes' });
    assert.equal(finalUrl(back), gw.url('exit.localhost', '/.auth/logout/complete'));
    assert.equal((await ua.request(gw.url('exit.localhost', '/.auth/me'))).status, 401);
    const again = await ua.navigate(gw.url('exit.localhost', '/'));
    assert.match(await again.text(), /name="login"/, 'the provider asks for the password again: its session ended too');
  });

  test('a hand-off code taken to another browser is refused there, with no session', async () => {
    const victim = new UserAgent();
    victim.holdRedirectsTo = /\/\.auth\/login\/done\?/;
    const login = await victim.navigate(gw.url('app1.localhost', '/account'));
    const consent = await victim.submitForm(finalUrl(login), await login.text(), {
      login: 'mallory-victim',
      password: 'any',
    });
    const held = await victim.submitForm(finalUrl(consent), await consent.text());
    assert.equal(held.status, 302);
    const attacker = new UserAgent();
    const stolen = await attacker.navigate(new URL(held.headers.get('location')!, gw.url('app1.localhost')));
    assert.equal(stolen.status, 400);
    assert.match(await stolen.text(), /started in another browser/);
    assert.equal(attacker.jar.get(`app1.localhost:${gw.port}`)?.has('AppServiceAuthSession') ?? false, false);
    assert.ok(gw.logs.some((l) => l.includes('the code was used in another browser')));
  });

  test('a replayed callback gets a clear page, not a session', async () => {
    const { ua } = await signIn('/');
    const callback = ua.visited.find((url) => url.includes('/.auth/login/idp/callback'))!;
    const replay = await ua.request(callback);
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /already completed, has expired, or was started in another browser/);
    const elsewhere = await new UserAgent().request(callback);
    assert.equal(elsewhere.status, 400);
  });

  test('a refused post_login_redirect_uri is 400 and starts nothing', async () => {
    const ua = new UserAgent();
    for (const target of ['//evil.example', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      const response = await ua.request(
        gw.url('app1.localhost', `/.auth/login/idp?post_login_redirect_uri=${encodeURIComponent(target)}`),
      );
      assert.equal(response.status, 400, target);
    }
    assert.equal(ua.jar.size, 0, 'no cookie was set');
    const allowed = await ua.request(
      gw.url(
        'app1.localhost',
        `/.auth/login/idp?post_login_redirect_uri=${encodeURIComponent('myapp://easyauth.callback')}`,
      ),
    );
    assert.equal(allowed.status, 302);
  });

  test('unauthenticated requests: browsers are redirected, fetch gets 401, Return401 apps say why, excluded paths pass', async () => {
    const ua = new UserAgent();
    const navigation = await ua.request(gw.url('app1.localhost', '/page'));
    assert.equal(navigation.status, 302);
    assert.equal(navigation.headers.get('location'), '/.auth/login/idp?post_login_redirect_uri=%2Fpage');
    const xhr = await ua.request(gw.url('app1.localhost', '/api'), {
      headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' },
    });
    assert.equal(xhr.status, 401);
    const app2 = await ua.request(gw.url('app2.localhost', '/'));
    assert.equal(app2.status, 401);
    assert.match(app2.headers.get('www-authenticate') ?? '', /^Bearer realm="app2"/);
    const open = await ua.request(gw.url('app1.localhost', '/public/logo.png'));
    assert.equal(open.status, 200);
    assert.equal(((await open.json()) as Echo).headers['x-ms-client-principal-name'], undefined);
    const bypass = await ua.request(gw.url('app1.localhost', '/public/%2e%2e/admin'));
    assert.equal(bypass.status, 302, 'an encoded dot-dot is not excluded');
  });

  test('the provider saying no, or being down, gives a page with a retry link', async () => {
    const ua = new UserAgent();
    const login = await ua.navigate(gw.url('app1.localhost', '/'));
    const abort = /href="([^"]*\/abort)"/.exec(await login.text())?.[1];
    assert.ok(abort, 'the provider offers to cancel');
    const denied = await ua.navigate(new URL(abort, finalUrl(login)));
    assert.equal(denied.status, 403);
    const text = await denied.text();
    assert.match(text, /did not sign you in \(access_denied/);
    assert.match(text, /Try again/);

    const down = await new UserAgent().navigate(gw.url('app1.localhost', '/.auth/login/down'));
    assert.equal(down.status, 502);
    assert.match(await down.text(), /could not be reached/);
    const failure = gw.logs
      .map((line) => JSON.parse(line))
      .find((l) => l.msg === 'sign-in failed at the provider' && l.kind === 'unreachable');
    assert.ok(failure, 'the failure is logged with its reason');
    assert.match(failure.reqId, /^[0-9a-f]{8}-[0-9a-f]{4}-/, 'with the id of the request it belongs to');
  });

  test('a token response SignOnce cannot accept gives a page and a log line, no session', async () => {
    const ua = new UserAgent();
    const login = await ua.navigate(gw.url('app2.localhost', '/.auth/login/badsecret'));
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: 'grace' });
    const failed = await ua.submitForm(finalUrl(consent), await consent.text());
    assert.equal(failed.status, 502);
    assert.match(await failed.text(), /answered something SignOnce could not accept/);
    assert.ok(
      gw.logs.some((line) => line.includes('"provider":"badsecret"') && line.includes('"kind":"invalid-response"')),
    );
    assert.equal(ua.jar.get(`app2.localhost:${gw.port}`)?.has('AppServiceAuthSession') ?? false, false);
  });

  test('the sign-in page lists the providers, as plain HTML with strict security headers', async () => {
    const response = await new UserAgent().request(
      gw.url('app2.localhost', '/.auth/login?post_login_redirect_uri=%2Fafter'),
    );
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(
      html,
      /<a class="button" href="\/\.auth\/login\/idp\?post_login_redirect_uri=%2Fafter">Sign in with idp<\/a>/,
    );
    assert.match(html, /Sign in with GitHub/);
    assert.doesNotMatch(html, /<script/i);
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
  });

  test('a cross-site POST authenticated only by the cookie is refused', async () => {
    const { ua } = await signIn('/');
    const crossSite = await ua.request(gw.url('app1.localhost', '/form'), {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(crossSite.status, 403);
    const sameSite = await ua.request(gw.url('app1.localhost', '/form'), {
      method: 'POST',
      headers: { origin: `http://app1.localhost:${gw.port}`, 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(sameSite.status, 200);
    assert.equal(((await sameSite.json()) as Echo).body, 'hello', 'the body is streamed to the app');
  });

  test('a plain OAuth 2 provider (github preset, pointed at a local server): profile from the userinfo API', async () => {
    const ua = new UserAgent();
    const login = await ua.navigate(gw.url('app1.localhost', '/.auth/login/gh?post_login_redirect_uri=/from-github'));
    assert.match(finalUrl(login), /\/interaction\//);
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: 'octocat' });
    const landed = await ua.submitForm(finalUrl(consent), await consent.text());
    assert.equal(finalUrl(landed), gw.url('app1.localhost', '/from-github'));
    const echo = (await landed.json()) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'gh');
    assert.equal(echo.headers['x-ms-client-principal-id'], '4207');
    assert.equal(echo.headers['x-ms-client-principal-name'], 'octocat@example.com');
    const principal = JSON.parse(Buffer.from(String(echo.headers['x-ms-client-principal']), 'base64').toString('utf8'));
    const claims = Object.fromEntries(principal.claims.map((c: { typ: string; val: string }) => [c.typ, c.val]));
    assert.equal(claims.login, 'octocat');
    assert.equal(claims.name, 'octocat', 'the github preset names the user by login');
    assert.equal(claims[`${WS}/nameidentifier`], '4207');
    assert.match(String(echo.headers['x-ms-token-gh-access-token']), /\S{20,}/);
    assert.equal(echo.headers['x-ms-token-gh-id-token'], undefined, 'plain OAuth 2 has no ID token');
  });

  test('an OAuth 1.0a provider (twitter preset, pointed at a local server): token and token secret reach the app', async () => {
    const ua = new UserAgent();
    const authorize = await ua.navigate(
      gw.url('app1.localhost', '/.auth/login/twitter?post_login_redirect_uri=/tweets'),
    );
    assert.match(finalUrl(authorize), /\/oauth\/authenticate\?oauth_token=/);
    const landed = await ua.submitForm(finalUrl(authorize), await authorize.text(), { user: 'jack' });
    assert.equal(finalUrl(landed), gw.url('app1.localhost', '/tweets'));
    const echo = (await landed.json()) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'twitter');
    assert.equal(echo.headers['x-ms-client-principal-id'], '4000');
    assert.equal(echo.headers['x-ms-client-principal-name'], 'jack@example.com');
    assert.match(String(echo.headers['x-ms-token-twitter-access-token']), /^jack-/);
    assert.match(String(echo.headers['x-ms-token-twitter-access-token-secret']), /^[0-9a-f]{32}$/);
    const me = await ua.request(gw.url('app1.localhost', '/.auth/me'));
    const [entry] = (await me.json()) as Array<Record<string, unknown>>;
    assert.equal(entry!.access_token_secret, echo.headers['x-ms-token-twitter-access-token-secret']);
    assert.deepEqual(twitter.refused, [], 'every signature SignOnce made verified');
  });

  test("client-directed sign-in: a fresh ID token the provider issued to SignOnce's client gives an authentication token, once; anything else is refused", async () => {
    const { echo } = await signIn('/');
    const { id_token: idToken, access_token: accessToken } = await nativeOidcTokens(
      idp.issuer,
      idp,
      `http://auth.localhost:${gw.port}/.auth/login/idp/callback`,
      'alice',
    );
    const post = (provider: string, body: unknown, contentType = 'application/json') =>
      new UserAgent().request(gw.url('app1.localhost', `/.auth/login/${provider}`), {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const signedIn = await post('idp', { id_token: idToken, access_token: accessToken });
    assert.equal(signedIn.status, 200);
    const { authenticationToken, user } = (await signedIn.json()) as {
      authenticationToken: string;
      user: { userId: string };
    };
    assert.equal(typeof user.userId, 'string');
    const me = await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'), {
      headers: { 'x-zumo-auth': authenticationToken },
    });
    const [entry] = (await me.json()) as Array<{ user_id: string; access_token: string }>;
    assert.deepEqual([entry?.user_id, entry?.access_token], ['alice@example.com', accessToken]);

    const [h, p, sig] = idToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const refusedCases: Array<[string, unknown, number]> = [
      [
        'tampered id_token',
        { id_token: `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url')}.${sig}` },
        401,
      ],
      ['an access token alone', { access_token: accessToken }, 401],
      ["a token of another issuer (SignOnce's own)", { id_token: authenticationToken }, 401],
      ['garbage id_token', { id_token: 'x.y.z' }, 401],
      ['the same ID token again', { id_token: idToken }, 401],
      ['the ID token SignOnce handed to the app', { id_token: echo.headers['x-ms-token-idp-id-token'] }, 401],
      ['no tokens', { hello: 'world' }, 400],
      ['not JSON', 'id_token=x', 400],
    ];
    for (const [name, body, status] of refusedCases) assert.equal((await post('idp', body)).status, status, name);
    assert.equal((await post('idp', { id_token: idToken }, 'text/plain')).status, 415);
    assert.equal(
      (await post('gh', { access_token: 'whatever' })).status,
      400,
      'plain OAuth 2: a bare access token proves nothing about its app',
    );
    assert.equal((await post('nobody', { id_token: idToken })).status, 404);
  });

  test('a client-directed sign-in with only an ID token keeps the access and refresh tokens of the web sign-in', async () => {
    const { ua } = await oidcSignIn(gw.url('native.localhost', '/'), 'nina');
    const { id_token } = await nativeOidcTokens(
      idp.issuer,
      idp,
      `http://auth.localhost:${gw.port}/.auth/login/idp/callback`,
      'nina',
    );
    const signedIn = await new UserAgent().request(gw.url('native.localhost', '/.auth/login/idp'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id_token }),
    });
    assert.equal(signedIn.status, 200);
    const { authenticationToken } = (await signedIn.json()) as { authenticationToken: string };
    for (const who of [{}, { 'x-zumo-auth': authenticationToken }] as Array<Record<string, string>>) {
      const [entry] = (await (
        await ua.request(gw.url('native.localhost', '/.auth/me'), { headers: who })
      ).json()) as Array<Record<string, unknown>>;
      assert.equal(entry?.id_token, id_token, 'the newer ID token replaced the stored one');
      assert.match(String(entry?.access_token), /\S{20,}/, 'the access token of the web sign-in is kept');
      assert.match(String(entry?.refresh_token), /\S{20,}/, 'and its refresh token');
      assert.ok(entry?.expires_on, 'with its expiry');
    }
    assert.equal((await ua.request(gw.url('native.localhost', '/.auth/refresh'))).status, 200);
  });

  test("client-directed sign-in with Twitter's token and secret: only tokens issued to this consumer pass, once, and never those SignOnce obtained", async () => {
    const ua = new UserAgent();
    const authorize = await ua.navigate(gw.url('app1.localhost', '/.auth/login/twitter'));
    const echo = (await (
      await ua.submitForm(finalUrl(authorize), await authorize.text(), { user: 'ada' })
    ).json()) as Echo;
    const handedToApp = {
      access_token: String(echo.headers['x-ms-token-twitter-access-token']),
      access_token_secret: String(echo.headers['x-ms-token-twitter-access-token-secret']),
    };
    const tokens = twitter.issueTokens('ada');
    const post = (body: unknown) =>
      new UserAgent().request(gw.url('app1.localhost', '/.auth/login/twitter'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await post(tokens);
    assert.equal(ok.status, 200);
    assert.match(((await ok.json()) as { authenticationToken: string }).authenticationToken, /^ey/);
    assert.equal(
      (await post({ ...tokens, access_token_secret: '0'.repeat(32) })).status,
      401,
      'a wrong secret fails the signature check',
    );
    assert.equal((await post({ access_token: tokens.access_token })).status, 401);
    assert.equal((await post(tokens)).status, 401, 'a token and secret sign in once');
    assert.equal((await post(handedToApp)).status, 401, 'never those SignOnce obtained itself (and handed to an app)');
  });

  test('no token or secret reaches a log line', async () => {
    const { echo } = await signIn('/');
    const secrets = [
      echo.headers['x-ms-token-idp-access-token'],
      echo.headers['x-ms-token-idp-id-token'],
      idp.clientSecret,
    ].map(String);
    for (const secret of secrets) assert.ok(!gw.logs.some((line) => line.includes(secret)), 'a secret was logged');
  });
});
