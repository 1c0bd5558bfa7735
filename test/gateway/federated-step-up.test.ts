// Step-up for federated users (access rules' `require: { mfa: true }`), with real OpenID providers
// (oidc-provider) that authenticate with a second factor when `acr_values` asks for one: the
// gateway sends the user back to their provider with the provider's `mfaAcrValues` and
// `prompt=login` (and `max_age=0` when the sign-in must be new), and checks the answer (`amr`, RFC 8176, or an `acr` the provider's config
// says means a second factor). A provider that does not assert one gets a 403 page, no session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { startGatewayHarness, type Echo, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { handedOver } from '../support/sign-in.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';

const MFA = 'urn:example:idp:loa:mfa';
const PASSWORD = 'urn:example:idp:loa:pwd';
const asks = (params: Readonly<Record<string, unknown>>, acr: string) =>
  typeof params.acr_values === 'string' && params.acr_values.split(' ').includes(acr);

let gw: TestGateway;
/** Authenticates with a second factor when acr_values asks for MFA (amr and acr), else a password alone. */
let honouring: TestIdp;
/** Asserts an acr only, never amr: MFA always. */
let acrOnly: TestIdp;
/** Answers every sign-in from an hour-old one of its own, max_age or not. */
let stale: TestIdp;

before(async () => {
  gw = await startGatewayHarness(
    ({ port, upstream, idps }) => {
      const oidc = (id: string, idp: TestIdp, extra: object = {}) => ({
        id,
        type: 'oidc',
        issuer: idp.issuer,
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        ...extra,
      });
      const app = (id: string, provider: string) => ({
        id,
        hosts: [`${id}.localhost:${port}`],
        upstream,
        defaultProvider: provider,
        allowedExternalRedirectUrls: ['myapp://signed-in'],
        access: [
          { paths: ['/admin/*'], allow: { authenticated: true }, require: { mfa: true } },
          { allow: { authenticated: true } },
        ],
      });
      return {
        publicUrl: `http://auth.localhost:${port}`,
        providers: [
          oidc('idp', idps[0]!, { mfaAcrValues: [MFA] }),
          // The same provider, without mfaAcrValues: nothing asks it for a second factor.
          oidc('plain', idps[0]!),
          oidc('acr', idps[1]!, { mfaAcrValues: [MFA] }),
          // An acr means nothing SignOnce was not told it means.
          oidc('untold', idps[1]!),
          oidc('stale', idps[2]!),
        ],
        apps: [
          app('wiki', 'idp'),
          app('blog', 'plain'),
          app('shop', 'acr'),
          app('docs', 'untold'),
          app('late', 'stale'),
          {
            id: 'vault',
            hosts: [`vault.localhost:${port}`],
            upstream,
            defaultProvider: 'plain',
            tokenStore: true,
            access: [{ allow: { authenticated: true }, require: { mfa: true } }],
          },
        ],
      };
    },
    {
      idps: [
        {
          providerIds: ['idp', 'plain'],
          options: {
            authentication: {
              acrValues: [MFA, PASSWORD],
              methods: (params) =>
                asks(params, MFA) ? { amr: ['pwd', 'otp'], acr: MFA } : { amr: ['pwd'], acr: PASSWORD },
            },
          },
        },
        {
          providerIds: ['acr', 'untold'],
          options: { authentication: { acrValues: [MFA], methods: () => ({ acr: MFA }) } },
        },
        {
          // Ignores max_age and answers from a sign-in of its own an hour ago.
          providerIds: ['stale'],
          options: {
            authentication: {
              acrValues: [],
              ignoresMaxAge: true,
              methods: () => ({ amr: ['pwd'], ts: Math.floor(Date.now() / 1000) - 3600 }),
            },
          },
        },
      ],
    },
  );
  [honouring, acrOnly, stale] = gw.idps as [TestIdp, TestIdp, TestIdp];
});
after(() => gw?.close());

/** Through the provider's login page as `user`, and its consent page when it shows one. */
async function atProvider(ua: UserAgent, page: Response, user: string): Promise<Response> {
  const landed = await ua.submitForm(finalUrl(page), await page.text(), { login: user, password: 'any' });
  const body = await landed.text();
  if (landed.status === 200 && /name="prompt" value="consent"/.test(body)) return ua.submitForm(finalUrl(landed), body);
  const { status, headers, url } = landed;
  return { status, headers, url, text: async () => body, json: async () => JSON.parse(body), cancel: async () => {} };
}

/** What the app received of the user: the claims of X-MS-CLIENT-PRINCIPAL. */
async function principalOf(answer: Response): Promise<Array<{ typ: string; val: string }>> {
  const echo = (await answer.json()) as Echo;
  return JSON.parse(Buffer.from(echo.headers['x-ms-client-principal'] as string, 'base64').toString()).claims;
}
const methodsOf = (claims: Array<{ typ: string; val: string }>) => ({
  amr: claims.filter((c) => c.typ === 'amr').map((c) => c.val),
  acr: claims.filter((c) => c.typ === 'acr').map((c) => c.val),
});

/** Signs `user` in to `app` at its provider; the browser. */
async function signedIn(app: string, user: string): Promise<UserAgent> {
  const ua = new UserAgent();
  const landed = await atProvider(ua, await ua.navigate(gw.url(`${app}.localhost`, '/')), user);
  assert.equal(landed.status, 200, `${user} signed in to ${app}`);
  return ua;
}

test('a password-only sign-in is sent back to its provider with acr_values and prompt=login, and comes back to the same URL with a second factor', async () => {
  const ua = await signedIn('wiki', 'alice');
  const first = honouring.lastAuthorization!;
  assert.deepEqual([first.get('acr_values'), first.get('max_age'), first.get('prompt')], [null, null, null]);
  assert.deepEqual(methodsOf(await principalOf(await ua.request(gw.url('wiki.localhost', '/notes')))), {
    amr: ['pwd'],
    acr: [PASSWORD],
  });

  const stepUp = await ua.request(gw.url('wiki.localhost', '/admin/settings?tab=users'));
  assert.equal(stepUp.status, 302);
  assert.equal(
    stepUp.headers.get('location'),
    `/.auth/login/idp?prompt=login&mfa=1&post_login_redirect_uri=${encodeURIComponent('/admin/settings?tab=users')}`,
  );
  const login = await ua.navigate(new URL(stepUp.headers.get('location')!, gw.url('wiki.localhost')).href);
  assert.match(finalUrl(login), new RegExp(`^${honouring.issuer}/interaction/`), "at the provider's login page");
  const asked = honouring.lastAuthorization!;
  assert.deepEqual([asked.get('acr_values'), asked.get('max_age'), asked.get('prompt')], [MFA, null, 'login']);
  const back = await atProvider(ua, login, 'alice');
  assert.equal(back.status, 200);
  assert.equal(finalUrl(back), gw.url('wiki.localhost', '/admin/settings?tab=users'), 'back where the user was going');
  assert.deepEqual(methodsOf(await principalOf(back)), { amr: ['pwd', 'otp'], acr: [MFA] });
  assert.equal((await ua.request(gw.url('wiki.localhost', '/admin/users'))).status, 200, 'the session keeps it');
  const me = (await (await ua.request(gw.url('wiki.localhost', '/.auth/me'))).json()) as Array<{
    user_claims: Array<{ typ: string; val: string }>;
  }>;
  assert.deepEqual(methodsOf(me[0]!.user_claims), { amr: ['pwd', 'otp'], acr: [MFA] }, '/.auth/me tells it too');
});

test("an acr listed in the provider's mfaAcrValues proves a second factor without amr; an acr the config does not list proves nothing", async () => {
  const shop = await signedIn('shop', 'bob');
  const admitted = await shop.request(gw.url('shop.localhost', '/admin/orders'));
  assert.equal(admitted.status, 200, 'acr alone, listed for the provider');
  assert.deepEqual(methodsOf(await principalOf(admitted)), { amr: [], acr: [MFA] });

  const docs = await signedIn('docs', 'bob');
  const stepUp = await docs.request(gw.url('docs.localhost', '/admin/pages'));
  assert.equal(stepUp.status, 302, 'the same acr from a provider without mfaAcrValues: sent to step up');
  const login = await docs.navigate(new URL(stepUp.headers.get('location')!, gw.url('docs.localhost')).href);
  assert.equal(acrOnly.lastAuthorization!.get('acr_values'), null, 'nothing to ask for');
  const refused = await atProvider(docs, login, 'bob');
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /A second factor is needed/);
  assert.equal((await docs.request(gw.url('docs.localhost', '/admin/pages'))).status, 302, 'still not let in');
});

test('a provider that ignores the step-up (one factor, no acr_values sent) gets a 403 page and no session', async () => {
  const ua = await signedIn('blog', 'carol');
  const stepUp = await ua.request(gw.url('blog.localhost', '/admin/posts'));
  const login = await ua.navigate(new URL(stepUp.headers.get('location')!, gw.url('blog.localhost')).href);
  assert.equal(honouring.lastAuthorization!.get('acr_values'), null);
  const refused = await atProvider(ua, login, 'carol');
  assert.equal(refused.status, 403);
  const page = await refused.text();
  assert.match(page, /did not confirm one for this sign-in/);
  assert.match(page, /Ask your administrator how to sign in there with a second factor/);
  assert.equal((await ua.request(gw.url('blog.localhost', '/admin/posts'))).status, 302);
  assert.ok(
    gw.logs.some(
      (line) => line.includes('needs a second factor the sign-in did not prove') && line.includes('"provider":"plain"'),
    ),
    'logged with the provider',
  );
});

test('a sign-in that must be new (max_age=0, as a step-up for a recent sign-in sends): auth_time must be after it started', async () => {
  const fresh = new UserAgent();
  const target = `/.auth/login/idp?prompt=login&max_age=0&post_login_redirect_uri=${encodeURIComponent('/notes')}`;
  const login = await fresh.navigate(gw.url('wiki.localhost', target));
  assert.deepEqual(
    [honouring.lastAuthorization!.get('max_age'), honouring.lastAuthorization!.get('prompt')],
    ['0', 'login'],
  );
  const back = await atProvider(fresh, login, 'fay');
  assert.equal(back.status, 200, 'the provider authenticated fay anew');
  assert.equal(finalUrl(back), gw.url('wiki.localhost', '/notes'));

  const ua = new UserAgent();
  const staleLogin = await ua.navigate(gw.url('late.localhost', target.replace('/idp?', '/stale?')));
  assert.equal(stale.lastAuthorization!.get('max_age'), '0', 'asked');
  const refused = await atProvider(ua, staleLogin, 'fay');
  assert.equal(refused.status, 403);
  assert.match(
    await refused.text(),
    /did not authenticate the user anew: it signed them in at .*, before this sign-in started/,
  );
  assert.equal((await ua.request(gw.url('late.localhost', '/notes'))).status, 302, 'no session');

  const other = await new UserAgent().request(gw.url('wiki.localhost', target.replace('max_age=0', 'max_age=300')));
  assert.equal(other.status, 400, 'only max_age=0 is taken');
  assert.match(await other.text(), /max_age takes only the value 0 here/);
});

test("SignOnce's endpoints answer a rule's require as the app does: 401 insufficient_user_authentication", async () => {
  // The vault requires a second factor on every path, its provider asserts none: the sign-in
  // makes a session, and the app sends it on to step up.
  const ua = new UserAgent();
  const stepUp = await atProvider(ua, await ua.navigate(gw.url('vault.localhost', '/')), 'dave');
  assert.match(finalUrl(stepUp), new RegExp(`^${honouring.issuer}/interaction/`), 'sent on to step up');
  assert.equal(honouring.lastAuthorization!.get('prompt'), 'login');
  // /.auth/me tells the user's claims and tokens, /.auth/token and /.auth/refresh hand tokens out:
  // a rule's require covers them too.
  for (const path of ['/.auth/me', '/.auth/token', '/.auth/refresh']) {
    const answer = await ua.request(gw.url('vault.localhost', path));
    assert.equal(answer.status, 401, path);
    assert.equal(
      answer.headers.get('www-authenticate'),
      'Bearer realm="vault", error="insufficient_user_authentication", error_description="this needs a sign-in with a second factor"',
      path,
    );
  }
  // On the wiki only /admin/* requires a second factor: /.auth/me is not under it.
  const wiki = await signedIn('wiki', 'dave');
  assert.equal((await wiki.request(gw.url('wiki.localhost', '/.auth/me'))).status, 200);
});

test("an authentication token carries its sign-in's amr and acr", async () => {
  const ua = new UserAgent();
  const login = await ua.navigate(
    gw.url('wiki.localhost', `/.auth/login/idp?post_login_redirect_uri=${encodeURIComponent('myapp://signed-in')}`),
  );
  const handover = await atProvider(ua, login, 'erin');
  const claims = decodeJwt(handedOver(handover).authenticationToken);
  assert.deepEqual([claims.amr, claims.acr], [['pwd'], PASSWORD]);
});
