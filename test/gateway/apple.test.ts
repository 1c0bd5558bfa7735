// Sign in with Apple, against oidc-provider made to behave as Apple does: the client secret is a
// JWT signed with the team's key (checked at the token endpoint as Apple checks it), the callback
// is a form POST, and the user's name comes once, as a `user` field beside the code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { startOidcProvider, type AppleKeyCheck, type TestIdp } from '../support/idp.ts';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';
import { appleUserClaims } from '../../src/providers/apple.ts';

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (key: ReturnType<typeof ecKey>['privateKey']) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('Sign in with Apple', () => {
  const teamKey = ecKey();
  const check: AppleKeyCheck = { teamId: 'TEAM123456', keyId: 'KEY1234567', publicKey: teamKey.publicKey };
  let idp: TestIdp;
  let gw: TestGateway;

  before(async () => {
    idp = await startOidcProvider([], undefined, { apple: check });
    gw = await startTestGateway((port, upstream) => {
      const apple = {
        type: 'apple',
        issuer: idp.issuer,
        clientId: idp.appleClientId,
        teamId: check.teamId,
        keyId: check.keyId,
      };
      return {
        publicUrl: `http://auth.localhost:${port}`,
        providers: [
          { id: 'apple', ...apple, privateKey: pem(teamKey.privateKey) },
          // Signed with a key Apple does not know for this kid.
          { id: 'apple-other-key', ...apple, privateKey: pem(ecKey().privateKey), displayName: 'Apple (wrong key)' },
        ],
        apps: [{ id: 'app1', hosts: [`app1.localhost:${port}`], upstream, defaultProvider: 'apple', tokenStore: true }],
      };
    });
    await idp.close();
    idp = await startOidcProvider(
      ['apple', 'apple-other-key'].map((id) => `http://auth.localhost:${gw.port}/.auth/login/${id}/callback`),
      idp,
      { apple: check },
    );
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  /** Through the provider's login and consent pages to its form_post page. */
  async function toFormPost(ua: UserAgent, provider: string, user: string) {
    const login = await ua.navigate(
      gw.url('app1.localhost', `/.auth/login/${provider}?post_login_redirect_uri=/inbox`),
    );
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
    const formPost = await ua.submitForm(finalUrl(consent), await consent.text());
    const html = await formPost.text();
    assert.match(
      html,
      new RegExp(
        `<form[^>]+method="post"[^>]+action="http://auth.localhost:${gw.port}/.auth/login/${provider}/callback"`,
      ),
      'the provider answers with a form POST to the callback',
    );
    return { url: finalUrl(formPost), html };
  }

  test('the client secret is a short JWT signed with the team key; the form POST callback signs in; the name comes from the user field', async () => {
    const ua = new UserAgent();
    const { url, html } = await toFormPost(ua, 'apple', 'grace');
    const landed = await ua.submitForm(url, html, {
      user: JSON.stringify({ name: { firstName: 'Grace', lastName: 'Hopper' }, email: 'grace@example.com' }),
    });
    assert.equal(finalUrl(landed), gw.url('app1.localhost', '/inbox'));
    assert.ok(
      ua.visited.some((visited) => visited.startsWith(`http://auth.localhost:${gw.port}/.auth/login/apple/callback?`)),
      'the POST became a GET',
    );
    const echo = (await landed.json()) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'apple');
    assert.equal(echo.headers['x-ms-client-principal-id'], 'grace');
    assert.equal(echo.headers['x-ms-client-principal-name'], 'grace@example.com');
    const { claims } = JSON.parse(
      Buffer.from(String(echo.headers['x-ms-client-principal']), 'base64').toString('utf8'),
    ) as { claims: Array<{ typ: string; val: string }> };
    assert.deepEqual(
      ['given_name', 'family_name', 'name'].map((typ) => claims.find((c) => c.typ === typ)?.val),
      ['Grace', 'Hopper', 'Grace Hopper'],
    );
    assert.match(String(echo.headers['x-ms-token-apple-id-token']), /^ey/);

    assert.equal(idp.appleSecrets.length, 1, 'the token endpoint accepted one client secret JWT');
    const [secret] = idp.appleSecrets;
    assert.equal(secret!.iss, check.teamId);
    assert.equal(secret!.sub, idp.appleClientId);
    assert.ok(secret!.exp! - secret!.iat! <= 300, 'valid for minutes, not months');
  });

  test('a client secret signed with another key is refused by the provider: a page, no session', async () => {
    const ua = new UserAgent();
    const before = idp.appleSecrets.length;
    const { url, html } = await toFormPost(ua, 'apple-other-key', 'heidi');
    const failed = await ua.submitForm(url, html);
    assert.equal(failed.status, 502);
    assert.match(await failed.text(), /Apple \(wrong key\) answered something SignOnce could not accept/);
    assert.equal(idp.appleSecrets.length, before);
    assert.equal((await ua.request(gw.url('app1.localhost', '/.auth/me'))).status, 401);
  });

  test('a callback POST that is not a form, or too large, is refused before anything is looked at', async () => {
    const ua = new UserAgent();
    const callback = `http://auth.localhost:${gw.port}/.auth/login/apple/callback`;
    const json = await ua.request(callback, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"code":"x"}',
    });
    assert.equal(json.status, 415);
    const huge = await ua.request(callback, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `code=${'x'.repeat(70_000)}`,
    });
    assert.equal(huge.status, 413);
  });
});

test("Apple's user field: names when well-formed, nothing from anything else", () => {
  const user = (value: unknown) =>
    new URL(`http://x/cb?user=${encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value))}`);
  const cases: Array<[URL, Record<string, string>]> = [
    [
      user({ name: { firstName: 'Ada', lastName: 'Lovelace' } }),
      { given_name: 'Ada', family_name: 'Lovelace', name: 'Ada Lovelace' },
    ],
    [user({ name: { firstName: ' Ada ' } }), { given_name: 'Ada', name: 'Ada' }],
    [new URL('http://x/cb?code=1'), {}],
    [user('not json'), {}],
    [user('null'), {}],
    [user([1, 2]), {}],
    [user({ name: 'Ada Lovelace' }), {}],
    [user({ name: { firstName: 42, lastName: { $ne: 1 } } }), {}],
    [user({ name: { firstName: '   ' } }), {}],
    [user({ name: { firstName: 'x'.repeat(300) } }), {}],
    [user({ name: { firstName: 'A' }, padding: 'x'.repeat(5000) }), {}],
    [user({ email: 'mallory@example.com', sub: 'victim' }), {}],
  ];
  for (const [url, expected] of cases) assert.deepEqual(appleUserClaims(url), expected, url.search.slice(0, 80));
});
