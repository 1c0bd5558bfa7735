// A disabled account (`signonce users disable`, `signonce accounts disable`) is locked out on
// every way in: its password, a linked identity at a real OpenID provider (oidc-provider), single
// sign-on, a third-party token already linked to it, its authentication tokens (the refresh grace
// too), and the OpenID Provider's tokens held by a real client (openid-client: refresh_token grant,
// userinfo, the provider-token endpoint). A new password revokes the OpenID tokens too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { fetch as undiciFetch } from 'undici';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { Keyring } from '../../src/crypto/keyring.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startGatewayWithIdp, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { handedOver, oidcSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl, loopback } from '../support/user-agent.ts';

const PASSWORD = 'a long and unusual passphrase';
const SECRET = 'wiki-client-secret-0123456789abcdefghij';
const RP = 'http://wiki.localhost:9';
const MAIL = 'https://mail.example.com';
const AUDIENCE = 'https://app.example.com/add-in';
const DISABLED = /This account is disabled\. Ask an administrator\./;
const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;

describe('a disabled account', () => {
  let gw: TestGateway;
  let idp: TestIdp;
  let store: Store;
  let issuer: Server;
  const signer = generateKeyPair('ES256');

  before(async () => {
    const publicJwk: JWK = { ...(await exportJWK((await signer).publicKey)), kid: 'mail-1', alg: 'ES256', use: 'sig' };
    issuer = createServer((_request, response) =>
      response.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [publicJwk] })),
    ).listen(0, '127.0.0.1');
    await new Promise((resolve) => issuer.once('listening', resolve));
    const jwksUrl = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}/jwks.json`;
    ({ gw, idp } = await startGatewayWithIdp((port, upstream, upstreamIdp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        { id: 'local', type: 'password' },
        {
          id: 'idp',
          type: 'oidc',
          issuer: upstreamIdp.issuer,
          clientId: upstreamIdp.clientId,
          clientSecret: upstreamIdp.clientSecret,
          scopes: ['openid', 'email', 'profile', 'offline_access'],
        },
      ],
      externalIssuers: [
        { id: 'mail', issuer: MAIL, jwksUrl, audience: AUDIENCE, subjectClaim: 'appctx_uid', algorithms: ['ES256'] },
      ],
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream,
          defaultProvider: 'local',
          tokenStore: true,
          allowedExternalRedirectUrls: ['myapp://cb'],
        },
      ],
      clients: [
        {
          id: 'wiki',
          secret: SECRET,
          redirectUris: [`${RP}/wiki/cb`],
          scopes: ['openid', 'profile', 'email', 'offline_access', 'provider_tokens'],
        },
      ],
    })));
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  });
  after(async () => {
    await store?.close();
    await gw?.close();
    await idp?.close();
    await new Promise((resolve) => issuer?.close(resolve));
  });

  const app = (path: string) => gw.url('app.localhost', path);
  const passwordSignIn = async (username: string, ua = new UserAgent()) => {
    const form = await ua.navigate(app('/.auth/login/local?post_login_redirect_uri=/home'));
    return { ua, answer: await ua.submitForm(finalUrl(form), await form.text(), { username, password: PASSWORD }) };
  };
  const mailToken = async (subject: string) =>
    new SignJWT({ appctx_uid: subject })
      .setProtectedHeader({ alg: 'ES256', kid: 'mail-1' })
      .setIssuer(MAIL)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign((await signer).privateKey);
  const external = async (body: Record<string, string>) => {
    const response = await new UserAgent().request(app('/.auth/external/mail'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { error?: string; reason?: string } };
  };
  const wiki = () =>
    client.discovery(new URL(`http://auth.localhost:${gw.port}`), 'wiki', SECRET, client.ClientSecretBasic(SECRET), {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: fetchLocal,
    } as never);
  /** The OpenID client's tokens for the browser `ua` (signed in to SignOnce already: no prompt). */
  async function openIdTokens(config: client.Configuration, ua: UserAgent) {
    const verifier = client.randomPKCECodeVerifier();
    ua.holdRedirectsTo = new RegExp(`^${RP}/`);
    const landing = await ua.navigate(
      client.buildAuthorizationUrl(config, {
        redirect_uri: `${RP}/wiki/cb`,
        scope: 'openid profile offline_access provider_tokens',
        prompt: 'consent',
        state: 's',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }),
    );
    ua.holdRedirectsTo = undefined;
    return client.authorizationCodeGrant(config, new URL(landing.headers.get('location')!), {
      pkceCodeVerifier: verifier,
      expectedState: 's',
    });
  }
  const providerToken = (accessToken: string) =>
    new UserAgent().request(`http://auth.localhost:${gw.port}/.auth/token`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });

  test('is locked out on every way in, with a page and a 401 saying so; enabled, it signs in again', async () => {
    const registered = await new LocalAccounts(store).register('local', 'dana', PASSWORD, 12);
    assert.ok(registered.ok);
    const { accountId } = registered;
    // Every way in, before: the password, a linked identity, a third-party token, a native
    // token (single sign-on), the OpenID client's tokens.
    const { ua, answer } = await passwordSignIn('dana');
    assert.equal(answer.status, 200);
    const login = await ua.navigate(app('/.auth/link/idp?post_login_redirect_uri=/linked'));
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: 'dana-idp', password: 'any' });
    assert.equal(finalUrl(await ua.submitForm(finalUrl(consent), await consent.text())), app('/linked'));
    const subject = `dana-${accountId}`;
    assert.equal(
      (await external({ token: await mailToken(subject), username: 'dana', password: PASSWORD })).status,
      200,
    );
    const native = handedOver(await ua.navigate(app('/.auth/login/local?post_login_redirect_uri=myapp://cb')));
    const config = await wiki();
    const tokens = await openIdTokens(config, ua);
    assert.equal((await providerToken(tokens.access_token)).status, 200);

    assert.equal(await new LocalAccounts(store).setDisabled('local', 'dana', true), true);

    const password = (await passwordSignIn('dana')).answer;
    assert.equal(password.status, 401);
    assert.match(
      await password.text(),
      DISABLED,
      'the password is right: it is the account that is refused, and the page says so',
    );
    const linked = (await oidcSignIn(app('/.auth/login/idp?post_login_redirect_uri=/home'), 'dana-idp')).landed;
    assert.equal(linked.status, 401, 'the linked identity signs in to the account no more');
    assert.match(await linked.text(), DISABLED);
    const again = await ua.navigate(app('/.auth/login/local?post_login_redirect_uri=/home'));
    assert.match(finalUrl(again), /\/\.auth\/login\/local\/form\?/, 'no single sign-on hand-off: the sign-in form');
    assert.match(finalUrl(await ua.navigate(app('/home'))), /\/\.auth\/login\/local\/form\?/, 'its session ended');
    const byToken = { headers: { 'x-zumo-auth': native.authenticationToken } };
    assert.equal((await new UserAgent().request(app('/.auth/me'), byToken)).status, 401);
    assert.equal((await new UserAgent().request(app('/.auth/refresh'), byToken)).status, 401, 'no refresh grace');
    const exchanged = await external({ token: await mailToken(subject) });
    assert.deepEqual([exchanged.status, exchanged.body.error], [401, 'account_disabled']);
    assert.match(exchanged.body.reason ?? '', DISABLED);

    // The OpenID Provider: grants and tokens revoked, and the account found no more.
    await assert.rejects(
      client.refreshTokenGrant(config, tokens.refresh_token!),
      (e: unknown) => (e as { error?: string }).error === 'invalid_grant',
      'refresh_token grant',
    );
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub), 'userinfo');
    assert.equal((await providerToken(tokens.access_token)).status, 401, 'the provider-token endpoint');
    assert.ok(
      gw.logs.some((line) => line.includes('account is disabled') && line.includes(accountId)),
      'a log line names the account',
    );

    assert.equal(await new LocalAccounts(store).setDisabled('local', 'dana', false), true);
    assert.equal((await passwordSignIn('dana')).answer.status, 200, 'enabled: in again');
    assert.equal((await external({ token: await mailToken(subject) })).status, 200);
    assert.equal(
      (await oidcSignIn(app('/.auth/login/idp?post_login_redirect_uri=/home'), 'dana-idp')).landed.status,
      200,
    );
  });

  test("a new password revokes the OpenID client's grant: its refresh token and access token stop working", async () => {
    const registered = await new LocalAccounts(store).register('local', 'eli', PASSWORD, 12);
    assert.ok(registered.ok);
    const { ua } = await passwordSignIn('eli');
    const config = await wiki();
    const tokens = await openIdTokens(config, ua);
    assert.ok(await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub));
    assert.equal(await new LocalAccounts(store).setPassword('local', 'eli', `${PASSWORD} anew`, 12), undefined);
    await assert.rejects(
      client.refreshTokenGrant(config, tokens.refresh_token!),
      (e: unknown) => (e as { error?: string }).error === 'invalid_grant',
    );
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub));
  });
});
