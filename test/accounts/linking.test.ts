// Which account an identity belongs to: the linking rules as a table of hostile inputs, then
// linking through the gateway against two real OpenID providers (oidc-provider): /.auth/link,
// one account for both, /.auth/me, the 409, unlinking, and opt-in linking by verified e-mail.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { accountByEmail, emailKey, verifiedEmail } from '../../src/accounts/linking.ts';
import type { Identity } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestIdp } from '../support/idp.ts';
import { handedOver, oidcSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';

const claims = (pairs: Array<[string, string]>) => pairs.map(([typ, val]) => ({ typ, val }));

test('verifiedEmail: only one e-mail the provider says it verified', () => {
  const cases: Array<[string, Array<[string, string]>, string | undefined]> = [
    [
      'verified',
      [
        ['email', 'ann@example.com'],
        ['email_verified', 'true'],
      ],
      'ann@example.com',
    ],
    [
      'not verified',
      [
        ['email', 'ann@example.com'],
        ['email_verified', 'false'],
      ],
      undefined,
    ],
    ['no verification claim', [['email', 'ann@example.com']], undefined],
    [
      'verification in another spelling',
      [
        ['email', 'ann@example.com'],
        ['email_verified', 'TRUE'],
      ],
      undefined,
    ],
    [
      'verification with a yes',
      [
        ['email', 'ann@example.com'],
        ['email_verified', '1'],
      ],
      undefined,
    ],
    [
      'two e-mails, one verification',
      [
        ['email', 'ann@example.com'],
        ['email', 'eve@example.com'],
        ['email_verified', 'true'],
      ],
      undefined,
    ],
    [
      'two verification claims',
      [
        ['email', 'ann@example.com'],
        ['email_verified', 'true'],
        ['email_verified', 'false'],
      ],
      undefined,
    ],
    ['no e-mail', [['email_verified', 'true']], undefined],
    [
      'not an address',
      [
        ['email', 'ann'],
        ['email_verified', 'true'],
      ],
      undefined,
    ],
    [
      'an address with a space in it',
      [
        ['email', 'ann @example.com'],
        ['email_verified', 'true'],
      ],
      undefined,
    ],
    [
      'two addresses in one value',
      [
        ['email', 'ann@example.com eve@example.com'],
        ['email_verified', 'true'],
      ],
      undefined,
    ],
    [
      'the mapped claim name alone',
      [
        ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', 'ann@example.com'],
        ['email_verified', 'true'],
      ],
      undefined,
    ],
  ];
  for (const [name, pairs, expected] of cases) assert.equal(verifiedEmail(claims(pairs)), expected, name);
  // A provider trusted for e-mails (providers[].trustEmail) vouches without the claim, never against it.
  const trusted: Array<[string, Array<[string, string]>, string | undefined]> = [
    ['trusted, no verification claim', [['email', 'ann@example.com']], 'ann@example.com'],
    [
      'trusted, but it says not verified',
      [
        ['email', 'ann@example.com'],
        ['email_verified', 'false'],
      ],
      undefined,
    ],
    [
      'trusted, two e-mails',
      [
        ['email', 'ann@example.com'],
        ['email', 'eve@example.com'],
      ],
      undefined,
    ],
    ['trusted, not an address', [['email', 'ann@eve@example.com']], undefined],
  ];
  for (const [name, pairs, expected] of trusted) assert.equal(verifiedEmail(claims(pairs), true), expected, name);
});

test('emailKey: one key per address whatever its case; different addresses, different keys; another secret, another key', () => {
  const secret = Buffer.alloc(32, 1);
  assert.equal(emailKey(secret, 'Ann@Example.com'), emailKey(secret, 'ann@example.com'));
  assert.equal(
    emailKey(secret, 'ann\u0301@example.com'.normalize('NFD')),
    emailKey(secret, 'ann\u0301@example.com'.normalize('NFC')),
  );
  assert.notEqual(emailKey(secret, 'ann@example.com'), emailKey(secret, 'ann@example.co'));
  // A look-alike (Cyrillic "а") is another address, so another key: never the same account.
  assert.notEqual(emailKey(secret, 'ann@example.com'), emailKey(secret, '\u0430nn@example.com'));
  assert.notEqual(emailKey(secret, 'ann@example.com'), emailKey(Buffer.alloc(32, 2), 'ann@example.com'));
  assert.ok(!emailKey(secret, 'ann@example.com').includes('ann'));
});

test("accountByEmail: the one account of listed providers' identities; none when none or ambiguous", () => {
  const identity = (provider: string, accountId: string): Identity => ({
    provider,
    subject: `${provider}-${accountId}`,
    accountId,
    createdAt: 0,
  });
  const cases: Array<[string, Identity[], string | undefined]> = [
    ['one listed identity', [identity('google', 'a1')], 'a1'],
    ['two identities of one account', [identity('google', 'a1'), identity('aad', 'a1')], 'a1'],
    ['two accounts claim the address', [identity('google', 'a1'), identity('aad', 'a2')], undefined],
    ['a provider no longer listed', [identity('github', 'a1')], undefined],
    ['a listed one and an unlisted one elsewhere', [identity('google', 'a1'), identity('github', 'a2')], 'a1'],
    ['nobody', [], undefined],
  ];
  for (const [name, candidates, expected] of cases)
    assert.equal(accountByEmail(candidates, ['google', 'aad']), expected, name);
});

describe('linking through the gateway, with two OpenID providers', () => {
  let idpA: TestIdp;
  let idpB: TestIdp;
  let gw: TestGateway;
  let gwByEmail: TestGateway;

  const provider = (id: string, idp: TestIdp) => ({
    id,
    type: 'oidc',
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    authorizationParams: { prompt: 'consent' },
  });
  const gatewayWith = (linkByVerifiedEmail: string[]) =>
    startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [provider('idpa', idpA), provider('idpb', idpB)],
      accounts: { linkByVerifiedEmail },
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream,
          defaultProvider: 'idpa',
          tokenStore: true,
          allowedExternalRedirectUrls: ['myapp://cb'],
        },
      ],
    }));

  before(async () => {
    [idpA, idpB] = [await startOidcProvider([]), await startOidcProvider([])];
    [gw, gwByEmail] = [await gatewayWith([]), await gatewayWith(['idpa', 'idpb'])];
    const callbacks = (id: string) =>
      [gw, gwByEmail].map((g) => `http://auth.localhost:${g.port}/.auth/login/${id}/callback`);
    await Promise.all([idpA.close(), idpB.close()]);
    [idpA, idpB] = [await startOidcProvider(callbacks('idpa'), idpA), await startOidcProvider(callbacks('idpb'), idpB)];
  });
  after(async () => {
    await gw?.close();
    await gwByEmail?.close();
    await idpA?.close();
    await idpB?.close();
  });

  /** A sign-in at `provider` as `user`, in a new browser (or `ua`); the page landed on. */
  const signIn = (g: TestGateway, provider: string, user: string, ua?: UserAgent) =>
    oidcSignIn(g.url('app.localhost', `/.auth/login/${provider}`), user, ua);
  /** The account a sign-in lands in: the user id of a native sign-in, in a new browser. */
  const accountOf = async (g: TestGateway, provider: string, user: string) =>
    handedOver((await signIn(g, `${provider}?post_login_redirect_uri=myapp://cb`, user)).landed).userId;
  const meOf = async (g: TestGateway, ua: UserAgent) =>
    (await (await ua.request(g.url('app.localhost', '/.auth/me'))).json()) as Array<{
      provider_name: string;
      user_id: string;
      access_token?: string;
    }>;
  const linkTo = async (g: TestGateway, ua: UserAgent, provider: string, user: string): Promise<Response> => {
    const login = await ua.navigate(g.url('app.localhost', `/.auth/link/${provider}?post_login_redirect_uri=/linked`));
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
    return ua.submitForm(finalUrl(consent), await consent.text());
  };

  test('a second provider joins the account: one user id, both in /.auth/me with their tokens; unlinking never the last', async () => {
    const { ua } = await signIn(gw, 'idpa', 'olga');
    const linked = await linkTo(gw, ua, 'idpb', 'olga-b');
    assert.equal(linked.status, 200);
    assert.equal(finalUrl(linked), gw.url('app.localhost', '/linked'), 'back where the link was asked from');
    const me = await meOf(gw, ua);
    assert.deepEqual(
      me.map((e) => [e.provider_name, e.user_id]),
      [
        ['idpa', 'olga@example.com'],
        ['idpb', 'olga-b@example.com'],
      ],
    );
    assert.ok(
      me.every((e) => e.access_token),
      'each with its tokens',
    );
    assert.equal(
      await accountOf(gw, 'idpb', 'olga-b'),
      await accountOf(gw, 'idpa', 'olga'),
      'either sign-in is the same account',
    );

    const unlink = (path: string, headers: Record<string, string> = {}) =>
      ua.request(gw.url('app.localhost', path), { method: 'POST', headers });
    assert.equal(
      (await unlink('/.auth/unlink/idpb', { origin: 'http://evil.localhost' })).status,
      403,
      'not from another site',
    );
    assert.equal((await ua.request(gw.url('app.localhost', '/.auth/unlink/idpb'))).status, 405);
    assert.equal((await unlink('/.auth/unlink/idpb')).status, 200);
    assert.deepEqual(
      (await meOf(gw, ua)).map((e) => e.provider_name),
      ['idpa'],
    );
    assert.equal((await unlink('/.auth/unlink/idpb')).status, 404);
    const last = await unlink('/.auth/unlink/idpa');
    assert.equal(last.status, 409);
    assert.match(((await last.json()) as { error: string }).error, /only identity/);
    assert.equal(
      (await new UserAgent().request(gw.url('app.localhost', '/.auth/unlink/idpa'), { method: 'POST' })).status,
      401,
    );
  });

  test('unlinking ends what the identity signed in: its sessions in every browser and their tokens; a caller signed in with it is signed out', async () => {
    const { ua } = await signIn(gw, 'idpa', 'sam');
    assert.equal((await linkTo(gw, ua, 'idpb', 'sam-b')).status, 200);
    const { ua: elsewhere } = await signIn(gw, 'idpb', 'sam-b');
    const native = handedOver((await signIn(gw, 'idpb?post_login_redirect_uri=myapp://cb', 'sam-b')).landed);
    const byToken = { headers: { 'x-zumo-auth': native.authenticationToken } };
    const me = (agent: UserAgent, init?: object) => agent.request(gw.url('app.localhost', '/.auth/me'), init);
    assert.deepEqual(
      [(await me(elsewhere)).status, (await me(new UserAgent(), byToken)).status],
      [200, 200],
      'signed in with idpb, before',
    );

    const unlinked = await ua.request(gw.url('app.localhost', '/.auth/unlink/idpb'), { method: 'POST' });
    assert.equal(unlinked.status, 200);
    assert.deepEqual(await unlinked.json(), { unlinked: 'idpb', signedOut: false });
    assert.equal((await me(elsewhere)).status, 401, 'the browser signed in with the unlinked identity is signed out');
    assert.equal(
      (await me(new UserAgent(), byToken)).status,
      401,
      'and the authentication token of its session refused',
    );
    assert.equal(
      (await new UserAgent().request(gw.url('app.localhost', '/.auth/refresh'), byToken)).status,
      401,
      'not renewed either',
    );
    assert.deepEqual(
      (await meOf(gw, ua)).map((e) => e.provider_name),
      ['idpa'],
      'the session signed in with idpa goes on',
    );

    // Unlinking the identity one is signed in with: that session ends too, and the answer says so.
    assert.equal((await linkTo(gw, (await signIn(gw, 'idpa', 'sam')).ua, 'idpb', 'sam-b')).status, 200);
    const { ua: self } = await signIn(gw, 'idpb', 'sam-b');
    const own = await self.request(gw.url('app.localhost', '/.auth/unlink/idpb'), { method: 'POST' });
    assert.equal(own.status, 200);
    assert.deepEqual(await own.json(), { unlinked: 'idpb', signedOut: true });
    assert.match(
      String(own.headers.get('set-cookie')),
      new RegExp(`^${gw.config.session.cookieName}=;.*Max-Age=0`, 'i'),
      'the cookie is cleared',
    );
    assert.equal((await me(self)).status, 401);
    assert.deepEqual(
      (await meOf(gw, ua)).map((e) => e.provider_name),
      ['idpa'],
    );
  });

  test('an identity of another account: 409 and a page saying so; nothing merged', async () => {
    const other = await accountOf(gw, 'idpb', 'pete-b');
    const { ua } = await signIn(gw, 'idpa', 'pete');
    const refused = await linkTo(gw, ua, 'idpb', 'pete-b');
    assert.equal(refused.status, 409);
    assert.match(await refused.text(), /belongs to another account/);
    assert.equal(await accountOf(gw, 'idpb', 'pete-b'), other, "still the other account's");
    assert.deepEqual(
      (await meOf(gw, ua)).map((e) => e.provider_name),
      ['idpa'],
    );
    assert.equal(
      (await new UserAgent().navigate(gw.url('app.localhost', '/.auth/link/idpb'))).status,
      401,
      'linking needs a session',
    );
  });

  test('by verified e-mail: off by default; with both providers listed, the same e-mail is the same account', async () => {
    assert.notEqual(await accountOf(gw, 'idpb', 'quinn'), await accountOf(gw, 'idpa', 'quinn'), 'off: two accounts');
    const first = await accountOf(gwByEmail, 'idpa', 'rita');
    assert.equal(await accountOf(gwByEmail, 'idpb', 'rita'), first, 'on: rita@example.com, verified by both');
  });
});
