// Access rules where requests arrive (README, "Access rules: who may reach what"), end to end: a
// real OpenID provider telling groups in its ID tokens, GitHub-style organisations and teams from
// the same test server's API, SignOnce's own groups in the store, and an OpenID client of
// SignOnce's OpenID Provider. The same decision for proxied requests, WebSocket upgrades,
// authentication tokens and SignOnce's own endpoints; excluded paths stay public.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatewayHarness, type TestGateway } from '../support/gateway.ts';
import { githubStyle, type TestIdp } from '../support/idp.ts';
import { nativeDevSignIn, oidcSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

const RP = 'http://grafana.localhost:9/cb';
const CLIENT_SECRET = 'grafana-client-secret-0123456789abcdef';
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors' };
/** A cookie-authenticated POST from the app's own page (the cross-site check passes). */
const SAME_ORIGIN_API = { ...API, 'sec-fetch-site': 'same-origin' };

/** How long (ms) until `ask` answers `status`; fails after 5 s. */
async function untilStatus(ask: () => Promise<{ status: number }>, status: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    if ((await ask()).status === status) return Date.now() - started;
    assert.ok(Date.now() - started < 5000, `no ${status} within 5 s`);
    await sleep(50);
  }
}

describe('access rules at the gateway and the OpenID Provider', () => {
  let gw: TestGateway;
  let idp: TestIdp;
  const host = (name: string) => `${name}.localhost:${gw.port}`;
  const url = (name: string, path = '/') => gw.url(`${name}.localhost`, path);

  before(async () => {
    gw = await startGatewayHarness(
      ({ port, upstream, idps }) => {
        const issuer = idps[0]!.issuer;
        const app = (id: string, extra: object) => ({ id, hosts: [`${id}.localhost:${port}`], upstream, ...extra });
        return {
          publicUrl: `http://auth.localhost:${port}`,
          devMode: true,
          session: { cacheTtl: '1s' },
          providers: [
            {
              id: 'idp',
              type: 'oidc',
              issuer,
              clientId: idps[0]!.clientId,
              clientSecret: idps[0]!.clientSecret,
              scopes: ['openid', 'email', 'profile', 'offline_access'],
              // The test server answers Graph-shaped lists too (Entra ID group overage).
              graphUrl: issuer,
            },
            { id: 'gh', ...githubStyle(idps[0]!) },
            { id: 'local', type: 'password', allowRegistration: true },
            { id: 'dev', type: 'dev' },
          ],
          apps: [
            app('wiki', {
              defaultProvider: 'idp',
              excludedPaths: ['/public/*'],
              allowedExternalRedirectUrls: ['myapp://done'],
              access: [
                { deny: { emails: ['intern@example.com'] }, description: 'Interns use the staging wiki.' },
                { paths: ['/admin/*'], methods: ['POST'], allow: { groups: ['wiki-admins'] } },
                { paths: ['/admin/*'], methods: ['POST'], deny: { authenticated: true } },
                { allow: { groups: ['staff'] } },
              ],
            }),
            app('code', { providers: ['gh'], access: [{ allow: { groups: ['acme/wiki-team'] } }] }),
            app('notes', { providers: ['local'] }),
          ],
          clients: [
            {
              id: 'grafana',
              secret: CLIENT_SECRET,
              redirectUris: [RP],
              access: [{ allow: { groups: ['ops'] } }],
            },
          ],
        };
      },
      { idps: [{ providerIds: ['idp', 'gh'] }] },
    );
    idp = gw.idps[0]!;
    idp.setMemberships('ann', { groups: ['staff'] });
    idp.setMemberships('bob', { groups: ['contractors'] });
    idp.setMemberships('intern', { groups: ['staff'] });
    idp.setMemberships('olga', { groups: ['ops'] });
  });
  after(() => gw?.close());

  /** A POST with the path exactly as given (URL parsing would resolve its dot segments), from the app's own page. */
  const rawPost = (ua: UserAgent, path: string) =>
    new Promise<{ status: number }>((resolve, reject) => {
      const cookie = ua.cookieHeader(new URL(url('wiki')));
      httpRequest({
        host: '127.0.0.1',
        port: gw.port,
        method: 'POST',
        path,
        headers: { host: host('wiki'), ...SAME_ORIGIN_API, ...(cookie ? { cookie } : {}), 'content-length': '0' },
      })
        .on('response', (response) => {
          response.resume();
          resolve({ status: response.statusCode! });
        })
        .on('error', reject)
        .end();
    });
  const signIn = async (user: string, app = 'wiki') => (await oidcSignIn(url(app), user)).ua;
  const accountOf = async (provider: string, subject: string) =>
    (await (await gw.store()).findIdentity(provider, subject))!.accountId;

  test('a member of an allowed group passes; others get 403: a page naming who they are and what the app asks, or access_denied JSON', async () => {
    const ann = await signIn('ann');
    const passed = await ann.request(url('wiki', '/page'));
    assert.equal(passed.status, 200);
    assert.equal(((await passed.json()) as { url: string }).url, '/page');

    const bob = new UserAgent();
    const { landed } = await oidcSignIn(url('wiki', '/page?x=1'), 'bob', bob);
    assert.equal(landed.status, 403);
    const html = await landed.text();
    assert.match(html, /You cannot use wiki/);
    assert.match(html, /signed in as <strong>bob@example\.com<\/strong>/);
    assert.match(html, /wiki lets in members of staff\./);
    const another = /href="([^"]+)">Sign in with another account/.exec(html)![1]!.replaceAll('&#38;', '&');
    assert.equal(
      new URL(another, 'http://x').searchParams.get('post_logout_redirect_uri'),
      '/.auth/login/idp?prompt=login&post_login_redirect_uri=%2Fpage%3Fx%3D1',
    );
    assert.equal(landed.headers.get('content-security-policy')?.includes("frame-ancestors 'none'"), true);

    const api = await bob.request(url('wiki', '/page'), { headers: API });
    assert.equal(api.status, 403);
    assert.deepEqual(await api.json(), { error: 'access_denied', reason: 'no access rule lets this user in' });
    const me = await bob.request(url('wiki', '/.auth/me'), { headers: API });
    assert.equal(me.status, 403, '/.auth/me is refused by the same rules');
    const refresh = await bob.request(url('wiki', '/.auth/refresh'), { headers: API });
    assert.equal(refresh.status, 403, '/.auth/refresh too');
    assert.equal(
      (await bob.request(url('wiki', '/public/logo.png'), { headers: API })).status,
      200,
      'excluded paths stay public',
    );

    const bobAccount = await accountOf('idp', 'bob');
    const logged = gw.logs
      .filter((line) => line.includes('"msg":"access to wiki refused"'))
      .map((line) => JSON.parse(line));
    assert.ok(logged.length >= 3);
    assert.ok(logged.every((line) => line.app === 'wiki' && line.account === bobAccount && line.provider === 'idp'));
    assert.ok(
      !gw.logs.some((line) => line.includes('access to wiki refused') && /eyJ/.test(line)),
      'no token in the line',
    );

    // "Sign in with another account": signed out, then a sign-in whose provider is asked to authenticate anew.
    const atProvider = await bob.navigate(new URL(another, url('wiki')));
    assert.match(finalUrl(atProvider), /\/interaction\//, 'at the provider, asked to authenticate anew');
    assert.equal((await bob.request(url('wiki', '/page'), { headers: API })).status, 401, 'signed out first');
  });

  test('Entra ID group overage: the groups are read from Graph with the stored access token, and let the user in', async () => {
    idp.setMemberships('zoe', { overage: 'claim-names', graphGroups: ['contractors', 'staff'] });
    const { landed } = await oidcSignIn(url('wiki', '/page'), 'zoe');
    assert.equal(landed.status, 200, 'staff, as Graph says');
    idp.setMemberships('yann', { overage: 'claim-names', graphGroups: ['contractors'] });
    assert.equal((await oidcSignIn(url('wiki', '/page'), 'yann')).landed.status, 403);
  });

  test("a deny rule's description is what the page says; an intern in staff is refused", async () => {
    const { landed } = await oidcSignIn(url('wiki'), 'intern');
    assert.equal(landed.status, 403);
    const html = await landed.text();
    assert.match(html, /<p>Interns use the staging wiki\.<\/p>/);
    assert.doesNotMatch(html, /lets in/);
  });

  test('paths and methods: POST /admin/* only for wiki-admins, whatever spelling of the path; a SignOnce group takes effect within cacheTtl', async () => {
    const ann = await signIn('ann');
    const post = (path: string) =>
      ann.request(url('wiki', path), { method: 'POST', headers: SAME_ORIGIN_API, body: '' });
    assert.equal((await post('/admin/users')).status, 403);
    assert.equal((await ann.request(url('wiki', '/page'), { headers: API })).status, 200, 'ann is staff');
    for (const dodge of ['/%61dmin/users', '/ADMIN/users', '//admin/users', '/admin;x/users', '/admin/./users'])
      assert.equal((await rawPost(ann, dodge)).status, 403, dodge);
    assert.equal((await ann.request(url('wiki', '/admin/users'), { headers: API })).status, 200, 'GET is not POST');

    const store = await gw.store();
    const account = await accountOf('idp', 'ann');
    assert.equal(await store.addGroupMembers('wiki-admins', [account]), 1);
    const took = await untilStatus(() => post('/admin/users'), 200);
    assert.ok(took <= 1500, `took ${took} ms; session.cacheTtl is 1 s`);
    assert.equal(
      (await rawPost(ann, '/admin/../admin/users')).status,
      403,
      'a path that is not canonical is never allowed by a rule with paths',
    );

    await store.removeGroupMembers('wiki-admins', [account]);
    const tookBack = await untilStatus(() => post('/admin/users'), 403);
    assert.ok(tookBack <= 1500, `took ${tookBack} ms`);
  });

  test('authentication tokens and WebSocket upgrades meet the same rules', async () => {
    const { authenticationToken } = await nativeDevSignIn(url('wiki', ''), 'myapp://done', {
      user_id: 'dave@example.com',
    });
    const byToken = await new UserAgent().request(url('wiki', '/page'), {
      headers: { ...API, 'x-zumo-auth': authenticationToken },
    });
    assert.equal(byToken.status, 403);
    assert.equal(((await byToken.json()) as { error: string }).error, 'access_denied');

    const upgrade = (token: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port: gw.port,
          path: '/socket',
          headers: {
            host: host('wiki'),
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': randomBytes(16).toString('base64'),
            'x-zumo-auth': token,
          },
        });
        req.on('response', (response) => resolve(response.statusCode!)).on('upgrade', () => resolve(101));
        req.on('error', reject).end();
      });
    assert.equal(await upgrade(authenticationToken), 403);
  });

  test('GitHub organisations and teams as groups; apps[].providers chooses what the sign-in page offers', async () => {
    idp.setMemberships('carla', { orgs: ['Acme'], teams: [{ org: 'Acme', slug: 'wiki-team' }] });
    idp.setMemberships('dan', { orgs: ['acme'] });
    const chooser = await new UserAgent().navigate(url('code', '/.auth/login'));
    const offered = [...(await chooser.text()).matchAll(/href="\/\.auth\/login\/([a-z]+)/g)].map((m) => m[1]);
    assert.deepEqual(offered, ['gh']);
    assert.equal((await new UserAgent().navigate(url('code', '/.auth/login/idp'))).status, 404);
    assert.equal((await new UserAgent().navigate(url('notes', '/.auth/login/gh'))).status, 404);

    const { landed: carla } = await oidcSignIn(url('code', '/.auth/login/gh?post_login_redirect_uri=/repo'), 'carla');
    assert.equal(carla.status, 200, 'acme/wiki-team');
    const { landed: dan } = await oidcSignIn(url('code', '/.auth/login/gh?post_login_redirect_uri=/repo'), 'dan');
    assert.equal(dan.status, 403, 'in the org, not the team');
  });

  /** An authorization request of the `grafana` client; where the browser is sent back to it. */
  async function authorize(ua: UserAgent, user: string | undefined) {
    const verifier = randomBytes(32).toString('base64url');
    const auth = new URL(url('auth', '/.auth/oidc/auth'));
    for (const [name, value] of Object.entries({
      client_id: 'grafana',
      redirect_uri: RP,
      response_type: 'code',
      scope: 'openid email offline_access',
      prompt: 'consent',
      state: 'st',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }))
      auth.searchParams.set(name, value);
    ua.holdRedirectsTo = /^http:\/\/grafana\.localhost:9\//;
    let landing = await ua.navigate(auth);
    if (user) {
      // SignOnce's choice of providers, then the provider's own login and consent pages.
      const choice = /href="([^"]+\/login\/idp)"/.exec(await landing.text())![1]!;
      landing = await ua.navigate(new URL(choice, finalUrl(landing)));
      const consent = await ua.submitForm(finalUrl(landing), await landing.text(), { login: user, password: 'any' });
      landing = await ua.submitForm(finalUrl(consent), await consent.text());
    }
    return { back: new URL(landing.headers.get('location') ?? 'http://nowhere.invalid/'), verifier };
  }
  const tokenRequest = (form: Record<string, string>) =>
    new UserAgent().request(url('auth', '/.auth/oidc/token'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`grafana:${CLIENT_SECRET}`).toString('base64')}`,
        accept: 'application/json',
      },
      body: new URLSearchParams(form).toString(),
    });

  test('an OpenID client: refused users get access_denied and never a code; a user removed from the group loses refresh', async () => {
    const { back: refused } = await authorize(new UserAgent(), 'bob');
    assert.equal(refused.searchParams.get('error'), 'access_denied');
    assert.equal(refused.searchParams.get('code'), null);
    assert.equal(refused.searchParams.get('state'), 'st');

    const olga = new UserAgent();
    const { back, verifier } = await authorize(olga, 'olga');
    const code = back.searchParams.get('code');
    assert.ok(code, `a code for a member of ops: ${back}`);
    const tokens = (await (
      await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: RP, code_verifier: verifier })
    ).json()) as { refresh_token: string };
    assert.ok(tokens.refresh_token);

    // Olga left ops: what a read of her provider after groups.refreshAfter keeps (memberships.test.ts shows the reads).
    const store = await gw.store();
    const account = await accountOf('idp', 'olga');
    await store.putProviderGroups(account, 'idp', { groups: [], roles: [] });
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refreshed.status, 400);
    assert.equal(((await refreshed.json()) as { error: string }).error, 'invalid_grant');
    const again = await authorize(olga, undefined);
    assert.equal(again.back.searchParams.get('error'), 'access_denied', 'single sign-on does not get past the rules');
  });
});
