// SignOnce as an OpenID Provider (clients), with a real relying party (openid-client) and a real
// upstream provider (oidc-provider): code + PKCE, tokens, userinfo, concurrent refreshes, single
// sign-on with the gateway's apps both ways, pairwise subjects, and the refusals RFC 6749 and
// RFC 9700 ask for.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { fetch as undiciFetch } from 'undici';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { openStore } from '../../src/store/index.ts';
import { startOidcProvider, type IdpOptions, type TestIdp } from '../support/idp.ts';
import { MULTI_FACTOR_ACR } from '../../src/openid-provider/login-age.ts';
import { oidcSignIn } from '../support/sign-in.ts';
import { dpopProof } from '../support/dpop.ts';
import { UserAgent, finalUrl, loopback, type Response } from '../support/user-agent.ts';

const SECRET = 'wiki-client-secret-0123456789abcdefghij';
/** The upstream provider's class of a sign-in with a second factor: it does one when acr_values asks for it. */
const UPSTREAM_MFA = 'urn:example:idp:mfa';
// Upstream access tokens live a minute: within refresh.ahead (5 m), so SignOnce refreshes before handing one out.
const upstreamOptions: IdpOptions = {
  accessTokenTtlSeconds: 60,
  authentication: {
    acrValues: [UPSTREAM_MFA],
    methods: (params) =>
      String(params.acr_values ?? '')
        .split(' ')
        .includes(UPSTREAM_MFA)
        ? { amr: ['pwd', 'otp'], acr: UPSTREAM_MFA }
        : {},
  },
};
const RP = 'http://wiki.localhost:9';
const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;

describe('the OpenID Provider', () => {
  let idp: TestIdp;
  let gw: TestGateway;
  // A client's back-channel logout endpoint: what it receives.
  const logoutTokens: string[] = [];
  let backchannel: Server;

  before(async () => {
    backchannel = createServer(async (request, response) => {
      let body = '';
      for await (const chunk of request) body += chunk;
      logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      response.writeHead(200).end();
    }).listen(0, '127.0.0.1');
    await once(backchannel, 'listening');
    const backchannelUri = `http://127.0.0.1:${(backchannel.address() as AddressInfo).port}/backchannel`;
    idp = await startOidcProvider([], undefined, upstreamOptions);
    const confidential = (id: string, extra: object = {}) => ({
      id,
      secret: `${id}-${SECRET}`,
      redirectUris: [`${RP}/${id}/cb`],
      postLogoutRedirectUris: [`${RP}/${id}/bye`],
      ...extra,
    });
    gw = await startTestGateway((port, upstream) => ({
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
          mfaAcrValues: [UPSTREAM_MFA],
        },
      ],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'idp' }],
      // A load balancer that is not this test's client (127.0.0.1): what the test sends as X-Forwarded-* is an attacker's.
      trustedProxies: ['10.9.9.0/24'],
      clients: [
        confidential('wiki'),
        confidential('crm', { subjectType: 'pairwise' }),
        { id: 'spa', public: true, redirectUris: [`${RP}/spa/cb`], subjectType: 'pairwise' },
        confidential('partner', { firstParty: false }),
        confidential('mail', { scopes: ['openid', 'email', 'provider_tokens'] }),
        confidential('notes', { backchannelLogoutUri: backchannelUri }),
      ],
    }));
    await idp.close();
    idp = await startOidcProvider([`http://auth.localhost:${gw.port}/.auth/login/idp/callback`], idp, upstreamOptions);
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
    await new Promise((resolve) => backchannel?.close(resolve));
  });

  /** A relying party `id` that discovered SignOnce as its issuer. */
  const relyingParty = (id: string, secret: string | null = `${id}-${SECRET}`) =>
    client.discovery(
      new URL(`http://auth.localhost:${gw.port}`),
      id,
      secret ?? undefined,
      secret ? client.ClientSecretBasic(secret) : client.None(),
      { execute: [client.allowInsecureRequests], [client.customFetch]: fetchLocal } as never,
    );

  interface Authorization {
    ua: UserAgent;
    landing: Response;
    verifier: string;
    state: string;
    nonce: string;
    url: URL;
  }
  /** The browser side: the authorization request, through the sign-in if the browser has none, back at the client with a code. */
  async function authorize(
    config: client.Configuration,
    id: string,
    ua: UserAgent,
    user: string | undefined,
    extra: Record<string, string> = {},
  ): Promise<Authorization> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${RP}/${id}/cb`,
      scope: 'openid profile email offline_access',
      prompt: 'consent',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    ua.holdRedirectsTo = new RegExp(`^${RP}/`);
    let landing = await ua.navigate(url);
    if (user !== undefined) {
      // At the upstream provider: its login and consent pages.
      const consent = await ua.submitForm(finalUrl(landing), await landing.text(), { login: user, password: 'any' });
      landing = await ua.submitForm(finalUrl(consent), await consent.text());
    }
    return { ua, landing, verifier, state, nonce, url };
  }
  const callbackOf = (landing: Response) => new URL(landing.headers.get('location') ?? 'http://nowhere.invalid/');
  const tokensOf = (config: client.Configuration, a: Authorization) =>
    client.authorizationCodeGrant(config, callbackOf(a.landing), {
      pkceCodeVerifier: a.verifier,
      expectedState: a.state,
      expectedNonce: a.nonce,
    });

  test('code + PKCE through the upstream provider: ID, access and refresh tokens; userinfo; 20 concurrent refreshes; logout', async () => {
    const wiki = await relyingParty('wiki');
    const signedIn = await authorize(wiki, 'wiki', new UserAgent(), 'uma');
    assert.equal(signedIn.landing.status, 303, await signedIn.landing.text());
    const tokens = await tokensOf(wiki, signedIn);
    const claims = tokens.claims()!;
    assert.equal(claims.iss, `http://auth.localhost:${gw.port}`);
    assert.equal(claims.aud, 'wiki');
    assert.ok(tokens.access_token && tokens.refresh_token);
    const userinfo = await client.fetchUserInfo(wiki, tokens.access_token, claims.sub);
    assert.deepEqual(
      [userinfo.sub, userinfo.email, userinfo.email_verified, userinfo.name],
      [claims.sub, 'uma@example.com', true, 'Uma Example'],
    );

    // One client refreshing with one token 20 times at once (tabs, retries): every call gets
    // tokens, and the grant survives (no reuse detection within the reuse window).
    const refreshed = await Promise.allSettled(
      Array.from({ length: 20 }, () => client.refreshTokenGrant(wiki, tokens.refresh_token!)),
    );
    assert.deepEqual(
      refreshed.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
      [],
    );
    const last = (refreshed.at(-1) as PromiseFulfilledResult<client.TokenEndpointResponse>).value;
    assert.ok((await client.fetchUserInfo(wiki, last.access_token, claims.sub)).sub, 'the family was not revoked');
    assert.ok(await client.refreshTokenGrant(wiki, last.refresh_token!), 'and the rotated token refreshes again');

    // RP-initiated logout: a confirmation, then back to the client; SignOnce's session ends too.
    const logout = client.buildEndSessionUrl(wiki, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${RP}/wiki/bye`,
      state: 'bye',
    });
    const confirm = await signedIn.ua.navigate(logout);
    assert.equal(confirm.status, 200);
    const done = await signedIn.ua.submitForm(finalUrl(confirm), await confirm.text(), { logout: 'yes' });
    assert.equal(done.headers.get('location'), `${RP}/wiki/bye?state=bye`);
    const asked = idp.authorizationRequests;
    await authorize(wiki, 'wiki', signedIn.ua, undefined);
    assert.equal(idp.authorizationRequests, asked + 1, 'the next sign-in goes to the upstream provider again');
  });

  test("single sign-on: a gateway app's sign-in serves the OpenID client with no provider prompt, and the reverse", async () => {
    const wiki = await relyingParty('wiki');
    const { ua } = await oidcSignIn(gw.url('app.localhost', '/'), 'vera');
    const asked = idp.authorizationRequests;
    const viaGateway = await authorize(wiki, 'wiki', ua, undefined);
    assert.equal(viaGateway.landing.status, 303, 'straight back to the client');
    const viaGatewayTokens = await tokensOf(wiki, viaGateway);
    assert.equal(
      (await client.fetchUserInfo(wiki, viaGatewayTokens.access_token, viaGatewayTokens.claims()!.sub)).email,
      'vera@example.com',
    );
    assert.equal(idp.authorizationRequests, asked, 'the upstream provider was not asked');

    const fresh = new UserAgent();
    await tokensOf(wiki, await authorize(wiki, 'wiki', fresh, 'walt'));
    const asked2 = idp.authorizationRequests;
    const page = await fresh.navigate(gw.url('app.localhost', '/inbox'));
    assert.equal(page.status, 200);
    assert.equal(((await page.json()) as Echo).headers['x-ms-client-principal-name'], 'walt@example.com');
    assert.equal(idp.authorizationRequests, asked2, 'the gateway app needed no provider prompt either');
  });

  test('one logout: signing out at a gateway app ends the OpenID session too (prompt=none: login_required)', async () => {
    const wiki = await relyingParty('wiki');
    const { ua } = await oidcSignIn(gw.url('app.localhost', '/'), 'zack');
    await tokensOf(wiki, await authorize(wiki, 'wiki', ua, undefined));
    const silent = await authorize(wiki, 'wiki', ua, undefined, { prompt: 'none', scope: 'openid' });
    assert.ok(callbackOf(silent.landing).searchParams.get('code'), 'signed in: prompt=none gets a code');
    await ua.navigate(gw.url('app.localhost', '/.auth/logout'));
    const after = await authorize(wiki, 'wiki', ua, undefined, { prompt: 'none', scope: 'openid' });
    assert.equal(callbackOf(after.landing).searchParams.get('error'), 'login_required');
  });

  test('back-channel logout: a gateway sign-out sends the client a logout token it can verify', async () => {
    const notes = await relyingParty('notes');
    const { ua } = await oidcSignIn(gw.url('app.localhost', '/'), 'carl');
    const idToken = (await tokensOf(notes, await authorize(notes, 'notes', ua, undefined))).claims()!;
    logoutTokens.length = 0;
    await ua.navigate(gw.url('app.localhost', '/.auth/logout'));
    for (let waited = 0; logoutTokens.length === 0 && waited < 5000; waited += 50) await sleep(50);
    assert.equal(logoutTokens.length, 1, 'one logout token, for the one client with a back-channel URI');
    const jwks = (await (await fetchLocal(`http://auth.localhost:${gw.port}/.well-known/jwks.json`)).json()) as {
      keys: JWK[];
    };
    const { payload, protectedHeader } = await jwtVerify(logoutTokens[0]!, createLocalJWKSet(jwks), {
      issuer: `http://auth.localhost:${gw.port}`,
      audience: 'notes',
    });
    assert.equal(protectedHeader.typ, 'logout+jwt');
    assert.equal(payload.sub, idToken.sub);
    assert.equal(payload.sid, idToken.sid);
    assert.ok((payload.events as Record<string, unknown>)['http://schemas.openid.net/event/backchannel-logout']);
    assert.equal(payload.nonce, undefined, 'a logout token carries no nonce (Back-Channel Logout 1.0 section 2.4)');
  });

  test('a third-party client asks for consent: allowed, a code; denied, access_denied', async () => {
    const partner = await relyingParty('partner');
    const ua = new UserAgent();
    const asking = await authorize(partner, 'partner', ua, 'anne');
    assert.equal(asking.landing.status, 200);
    const page = await asking.landing.text();
    assert.match(page, /Allow partner\?/);
    assert.match(page, /<li>email<\/li>/);
    const denied = await ua.submitForm(finalUrl(asking.landing), page, { decision: 'deny' });
    assert.equal(callbackOf(denied).searchParams.get('error'), 'access_denied');
    const again = await authorize(partner, 'partner', ua, undefined);
    const allowed = await ua.submitForm(finalUrl(again.landing), await again.landing.text(), { decision: 'allow' });
    assert.ok(callbackOf(allowed).searchParams.get('code'));
    assert.ok(
      (
        await client.authorizationCodeGrant(partner, callbackOf(allowed), {
          pkceCodeVerifier: again.verifier,
          expectedState: again.state,
          expectedNonce: again.nonce,
        })
      ).access_token,
    );
  });

  test("provider_tokens: a client with the scope gets its user's provider token, refreshed by SignOnce; others do not", async () => {
    const mail = await relyingParty('mail');
    const ua = new UserAgent();
    const tokens = await tokensOf(
      mail,
      await authorize(mail, 'mail', ua, 'bella', { scope: 'openid email provider_tokens' }),
    );
    const providerToken = (accessToken: string) =>
      new UserAgent().request(`http://auth.localhost:${gw.port}/.auth/token`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
    const grants = idp.refreshGrants;
    const answer = await providerToken(tokens.access_token);
    assert.equal(answer.status, 200);
    const body = (await answer.json()) as { provider: string; access_token: string; expires_on: string };
    assert.equal(body.provider, 'idp');
    assert.equal(idp.refreshGrants - grants, 1, 'about to expire: refreshed by SignOnce first');
    assert.ok(Date.parse(body.expires_on) > Date.now());
    const upstream = await fetchLocal(`${idp.issuer}/api/user`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    assert.equal(
      ((await upstream.json()) as { login: string }).login,
      'bella',
      'a token the provider accepts, for this user',
    );

    const wiki = await relyingParty('wiki');
    const withoutScope = await tokensOf(wiki, await authorize(wiki, 'wiki', ua, undefined));
    const refused = await providerToken(withoutScope.access_token);
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    assert.equal((await providerToken('not-a-token')).status, 401);
    assert.equal((await new UserAgent().request(`http://auth.localhost:${gw.port}/.auth/token`)).status, 401);
  });

  test('DPoP (RFC 9449): a DPoP-bound access token is refused as Bearer at /.auth/token, and served with a proof of its key', async () => {
    const mail = await relyingParty('mail');
    const keys = await client.randomDPoPKeyPair('ES256');
    const signedIn = await authorize(mail, 'mail', new UserAgent(), 'dana', { scope: 'openid email provider_tokens' });
    const tokens = await client.authorizationCodeGrant(
      mail,
      callbackOf(signedIn.landing),
      { pkceCodeVerifier: signedIn.verifier, expectedState: signedIn.state, expectedNonce: signedIn.nonce },
      undefined,
      { DPoP: client.getDPoPHandle(mail, keys) },
    );
    assert.equal(tokens.token_type.toLowerCase(), 'dpop', "the OP bound the access token to the client's key");
    const tokenUrl = `http://auth.localhost:${gw.port}/.auth/token`;
    const providerToken = (authorization: string, proof?: string) =>
      new UserAgent().request(tokenUrl, { headers: { authorization, ...(proof ? { dpop: proof } : {}) } });

    // A thief holding only the token: as Bearer (RFC 9449 section 7.2), with no proof, with a proof of their own key.
    const asBearer = await providerToken(`Bearer ${tokens.access_token}`);
    assert.equal(asBearer.status, 401, 'a DPoP-bound token presented as Bearer');
    assert.match(asBearer.headers.get('www-authenticate') ?? '', /(?:^|, )DPoP realm=.*error="invalid_token"/);
    assert.equal((await providerToken(`DPoP ${tokens.access_token}`)).status, 401, 'no proof');
    const thief = await client.randomDPoPKeyPair('ES256');
    assert.equal(
      (
        await providerToken(
          `DPoP ${tokens.access_token}`,
          await dpopProof(thief, tokens.access_token, { htu: tokenUrl }),
        )
      ).status,
      401,
      'a proof of another key',
    );

    // The client with its key: 200 (openid-client builds the proof); the same proof again is a replay.
    const served = await client.fetchProtectedResource(
      mail,
      tokens.access_token,
      new URL(tokenUrl),
      'GET',
      undefined,
      undefined,
      { DPoP: client.getDPoPHandle(mail, keys) },
    );
    assert.equal(served.status, 200, await served.clone().text());
    assert.equal(((await served.json()) as { provider: string }).provider, 'idp');
    const proof = await dpopProof(keys, tokens.access_token, { htu: tokenUrl });
    assert.equal((await providerToken(`DPoP ${tokens.access_token}`, proof)).status, 200);
    assert.equal(
      (await providerToken(`DPoP ${tokens.access_token}`, proof)).status,
      401,
      'a proof is used once (its jti)',
    );
  });

  test('max_age (OpenID Connect Core 3.1.2.1): past it, a new sign-in at the provider; within it, single sign-on with the real auth_time', async () => {
    const wiki = await relyingParty('wiki');
    const before = Math.floor(Date.now() / 1000);
    const { ua } = await oidcSignIn(gw.url('app.localhost', '/'), 'gwen');
    const after = Math.ceil(Date.now() / 1000);
    await sleep(2100);

    // Within max_age: single sign-on, no provider asked; auth_time is when gwen signed in, not now.
    const asked = idp.authorizationRequests;
    const within = await authorize(wiki, 'wiki', ua, undefined, { max_age: '3600' });
    assert.equal(within.landing.status, 303, 'straight back to the client');
    const authTime = (await tokensOf(wiki, within)).claims()!.auth_time!;
    assert.ok(authTime >= before && authTime <= after, `auth_time ${authTime} is the sign-in's (${before}..${after})`);
    assert.equal(idp.authorizationRequests, asked);

    // Past max_age: the provider is asked again (prompt=login), and auth_time is that new sign-in's.
    const again = Math.floor(Date.now() / 1000);
    const past = await authorize(wiki, 'wiki', ua, undefined, { max_age: '1' });
    assert.equal(idp.authorizationRequests, asked + 1, 'a new sign-in at the provider, not the single sign-on session');
    assert.deepEqual(
      [idp.lastAuthorization!.get('prompt'), idp.lastAuthorization!.get('max_age')],
      ['login', '0'],
      'asked to authenticate anew, and to say when (auth_time, checked)',
    );
    assert.match(finalUrl(past.landing), new RegExp(`^${idp.issuer}/`), "at the provider's login page");
    let landing = await ua.submitForm(finalUrl(past.landing), await past.landing.text(), {
      login: 'gwen',
      password: 'any',
    });
    if (landing.status === 200) landing = await ua.submitForm(finalUrl(landing), await landing.text());
    const fresh = (await tokensOf(wiki, { ...past, landing })).claims()!;
    assert.ok(fresh.auth_time! >= again, `auth_time ${fresh.auth_time} is the new sign-in's (>= ${again})`);
  });

  test('acr_values naming the multi-factor class (SignOnce honours them): a one-factor single sign-on session steps up at its provider; ID tokens say acr and amr', async () => {
    const wiki = await relyingParty('wiki');
    const metadata = (await (
      await new UserAgent().request(`http://auth.localhost:${gw.port}/.well-known/openid-configuration`)
    ).json()) as { acr_values_supported?: string[] };
    assert.deepEqual(metadata.acr_values_supported, [MULTI_FACTOR_ACR]);
    const { ua } = await oidcSignIn(gw.url('app.localhost', '/'), 'hana');

    // Without acr_values: single sign-on, one factor, no acr.
    const plain = await authorize(wiki, 'wiki', ua, undefined);
    assert.equal(plain.landing.status, 303, 'straight back to the client');
    assert.equal((await tokensOf(wiki, plain)).claims()!.acr, undefined);

    // With them: the upstream provider is asked for its second factor, anew.
    const asked = idp.authorizationRequests;
    const stepUp = await authorize(wiki, 'wiki', ua, undefined, { acr_values: MULTI_FACTOR_ACR });
    assert.equal(idp.authorizationRequests, asked + 1, 'not answered by the one-factor session');
    assert.deepEqual(
      [idp.lastAuthorization!.get('acr_values'), idp.lastAuthorization!.get('prompt')],
      [UPSTREAM_MFA, 'login'],
    );
    let landing = await ua.submitForm(finalUrl(stepUp.landing), await stepUp.landing.text(), {
      login: 'hana',
      password: 'any',
    });
    if (landing.status === 200) landing = await ua.submitForm(finalUrl(landing), await landing.text());
    const proved = (await tokensOf(wiki, { ...stepUp, landing })).claims()!;
    assert.deepEqual([proved.acr, proved.amr], [MULTI_FACTOR_ACR, ['pwd', 'otp']]);

    // The single sign-on session now proves it: the next such request is answered without the provider.
    const again = await authorize(wiki, 'wiki', ua, undefined, { acr_values: `urn:other ${MULTI_FACTOR_ACR}` });
    assert.equal(again.landing.status, 303);
    assert.equal(idp.authorizationRequests, asked + 1);
    assert.equal((await tokensOf(wiki, again)).claims()!.acr, MULTI_FACTOR_ACR);
  });

  test('discovery names publicUrl only (X-Forwarded-Host/-Proto from a sender not in trustedProxies are not believed), cacheable', async () => {
    const answer = await new UserAgent().request(`http://auth.localhost:${gw.port}/.well-known/openid-configuration`, {
      headers: {
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
        forwarded: 'host=evil.example;proto=https',
        accept: 'application/json',
      },
    });
    assert.equal(answer.status, 200);
    const metadata = (await answer.json()) as Record<string, unknown>;
    assert.equal(metadata.issuer, `http://auth.localhost:${gw.port}`);
    const urls = Object.entries(metadata).filter(
      ([, value]) => typeof value === 'string' && /^[a-z]+:\/\//i.test(value),
    );
    assert.ok(urls.length > 5);
    for (const [name, url] of urls)
      assert.equal(new URL(url as string).origin, `http://auth.localhost:${gw.port}`, name);
    assert.equal(answer.headers.get('cache-control'), 'public, max-age=300');
  });

  test('introspection and revocation (RFC 7662, RFC 7009): a revoked refresh token refreshes no more', async () => {
    const wiki = await relyingParty('wiki');
    const tokens = await tokensOf(wiki, await authorize(wiki, 'wiki', new UserAgent(), 'dora'));
    const introspected = await client.tokenIntrospection(wiki, tokens.access_token);
    assert.deepEqual(
      [introspected.active, introspected.client_id, introspected.sub],
      [true, 'wiki', tokens.claims()!.sub],
    );
    await client.tokenRevocation(wiki, tokens.refresh_token!);
    await assert.rejects(
      client.refreshTokenGrant(wiki, tokens.refresh_token!),
      (e: unknown) => (e as { error?: string }).error === 'invalid_grant',
    );
    assert.equal((await client.tokenIntrospection(wiki, 'not-a-token')).active, false);
  });

  test('pairwise subjects differ between pairwise clients; a public one sees the account id', async () => {
    const ua = new UserAgent();
    const wiki = await relyingParty('wiki');
    const accountId = (await tokensOf(wiki, await authorize(wiki, 'wiki', ua, 'xena'))).claims()!.sub;
    const crm = await relyingParty('crm');
    const spa = await relyingParty('spa', null);
    const crmSub = (await tokensOf(crm, await authorize(crm, 'crm', ua, undefined))).claims()!.sub;
    const spaSub = (await tokensOf(spa, await authorize(spa, 'spa', ua, undefined))).claims()!.sub;
    assert.match(accountId, /^[0-9a-f-]{36}$/, 'the account id, as in authentication tokens');
    assert.notEqual(crmSub, accountId);
    assert.notEqual(spaSub, accountId);
    assert.notEqual(crmSub, spaSub);
  });

  test('refused: redirect URI mismatch, no PKCE, a replayed code, a wrong client secret', async () => {
    const wiki = await relyingParty('wiki');
    const ua = new UserAgent();
    await tokensOf(wiki, await authorize(wiki, 'wiki', ua, 'yuri'));

    const mismatch = await authorize(wiki, 'wiki', ua, undefined, { redirect_uri: `${RP}/wiki/cb/evil` });
    assert.equal(mismatch.landing.status, 400, 'never redirected to an unregistered URI');
    assert.match(await mismatch.landing.text(), /redirect_uri/);

    const withoutPkce = new URL((await authorize(wiki, 'wiki', new UserAgent(), undefined)).url);
    withoutPkce.searchParams.delete('code_challenge');
    withoutPkce.searchParams.delete('code_challenge_method');
    const refusedPkce = await ua.navigate(withoutPkce);
    assert.match(callbackOf(refusedPkce).searchParams.get('error') ?? '', /invalid_request/);

    const first = await authorize(wiki, 'wiki', ua, undefined);
    const tokens = await tokensOf(wiki, first);
    await assert.rejects(
      tokensOf(wiki, first),
      (e: unknown) => (e as { error?: string }).error === 'invalid_grant',
      'a code works once',
    );
    await assert.rejects(
      client.fetchUserInfo(wiki, tokens.access_token, tokens.claims()!.sub),
      'a replayed code revokes what the code gave',
    );

    const impostor = await relyingParty('wiki', 'not-the-secret-0123456789abcdefghijklmn');
    const stolen = await authorize(wiki, 'wiki', ua, undefined);
    // 401 invalid_client, with the challenge of client_secret_basic (RFC 6749 section 5.2).
    await assert.rejects(tokensOf(impostor, stolen), (e: unknown) => {
      const challenge = e as { status?: number; cause?: Array<{ parameters?: { error?: string } }> };
      return challenge.status === 401 && challenge.cause?.[0]?.parameters?.error === 'invalid_client';
    });
  });
});

test("a local account signs in to an OpenID client through SignOnce's own password form", async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    providers: [{ id: 'local', type: 'password' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream }],
    clients: [{ id: 'wiki', secret: `wiki-${SECRET}`, redirectUris: [`${RP}/wiki/cb`] }],
  }));
  const store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  try {
    const registered = await new LocalAccounts(store).register('local', 'edna', 'a long and unusual passphrase', 12);
    assert.ok(registered.ok);
    const wiki = await client.discovery(
      new URL(`http://auth.localhost:${gw.port}`),
      'wiki',
      `wiki-${SECRET}`,
      client.ClientSecretBasic(`wiki-${SECRET}`),
      { execute: [client.allowInsecureRequests], [client.customFetch]: fetchLocal } as never,
    );
    const verifier = client.randomPKCECodeVerifier();
    const ua = new UserAgent();
    ua.holdRedirectsTo = new RegExp(`^${RP}/`);
    const form = await ua.navigate(
      client.buildAuthorizationUrl(wiki, {
        redirect_uri: `${RP}/wiki/cb`,
        scope: 'openid profile',
        state: 's',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }),
    );
    assert.match(finalUrl(form), /\/\.auth\/login\/local\/form\?state=/, "at SignOnce's password form");
    const back = await ua.submitForm(finalUrl(form), await form.text(), {
      username: 'edna',
      password: 'a long and unusual passphrase',
    });
    const tokens = await client.authorizationCodeGrant(wiki, new URL(back.headers.get('location')!), {
      pkceCodeVerifier: verifier,
      expectedState: 's',
    });
    assert.equal(tokens.claims()!.sub, registered.accountId);
    assert.equal(
      (await client.fetchUserInfo(wiki, tokens.access_token, registered.accountId)).preferred_username,
      'edna',
    );
  } finally {
    await store.close();
    await gw.close();
  }
});
