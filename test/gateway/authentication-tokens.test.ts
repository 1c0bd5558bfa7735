// Authentication tokens at the gateway: a native app's server-directed sign-in ends at its own
// scheme with a token, which then authenticates requests at its app and at apps that trust it,
// verifies with jose against the published JWKS, and stops working when its session ends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { UserAgent } from '../support/user-agent.ts';
import { nativeDevSignIn } from '../support/sign-in.ts';
import { AUTHENTICATION_TOKEN_TYPE } from '../../src/session/authentication-tokens.ts';
import { tamperedSignature } from '../support/tokens.ts';

describe('authentication tokens at the gateway', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [
        {
          id: 'app1',
          hosts: [`app1.localhost:${port}`],
          upstream,
          defaultProvider: 'dev',
          tokenStore: true,
          allowedExternalRedirectUrls: ['myapp://easyauth.callback'],
        },
        {
          id: 'app2',
          hosts: [`app2.localhost:${port}`],
          upstream,
          unauthenticatedAction: 'Return401',
          acceptTokensFrom: ['app1'],
        },
        { id: 'app3', hosts: [`app3.localhost:${port}`], upstream, unauthenticatedAction: 'Return401' },
        { id: 'open', hosts: [`open.localhost:${port}`], upstream, unauthenticatedAction: 'AllowAnonymous' },
      ],
    }));
  });
  after(() => gw?.close());

  /** A native app's sign-in: the browser ends at myapp://…#token=; the token and the user id. */
  async function nativeSignIn(user: string) {
    const { ua, handover, authenticationToken, userId } = await nativeDevSignIn(
      gw.url('app1.localhost', ''),
      'myapp://easyauth.callback',
      { user_id: user },
    );
    assert.equal(handover.status, 302);
    const location = new URL(handover.headers.get('location')!);
    assert.equal(`${location.protocol}//${location.host}`, 'myapp://easyauth.callback');
    assert.equal(
      ua.jar.get(`app1.localhost:${gw.port}`)?.has('AppServiceAuthSession') ?? false,
      false,
      'no cookie: the app holds the token',
    );
    return { authenticationToken, user: { userId } };
  }

  const get = (host: string, path: string, headers: Record<string, string> = {}) =>
    new UserAgent().request(gw.url(host, path), { headers });

  test('the server-directed sign-in hands the app a token that verifies with jose against the published keys', async () => {
    const { authenticationToken, user } = await nativeSignIn('kim@example.com');
    const discovery = (await (await get('auth.localhost', '/.well-known/openid-configuration')).json()) as {
      issuer: string;
      jwks_uri: string;
    };
    assert.deepEqual(discovery, {
      issuer: `http://auth.localhost:${gw.port}`,
      jwks_uri: `http://auth.localhost:${gw.port}/.well-known/jwks.json`,
    });
    const jwks = (await (await get('auth.localhost', '/.well-known/jwks.json')).json()) as Parameters<
      typeof createLocalJWKSet
    >[0];
    const { payload, protectedHeader } = await jwtVerify(authenticationToken, createLocalJWKSet(jwks), {
      issuer: discovery.issuer,
      audience: 'app1',
      typ: AUTHENTICATION_TOKEN_TYPE,
      algorithms: ['EdDSA'],
    });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(payload.sub, user.userId);
    assert.equal(payload.idp, 'dev');
    assert.equal(typeof payload.uid, 'string');
  });

  test('the token authenticates at its app and at an app that trusts it, never reaching the app itself', async () => {
    const { authenticationToken } = await nativeSignIn('lee@example.com');
    const atApp1 = await get('app1.localhost', '/data', { 'x-zumo-auth': authenticationToken });
    assert.equal(atApp1.status, 200);
    const echo1 = (await atApp1.json()) as Echo;
    assert.equal(echo1.headers['x-ms-client-principal-name'], 'lee@example.com');
    assert.equal(echo1.headers['x-zumo-auth'], undefined, 'the app never holds the token');
    const atApp2 = await get('app2.localhost', '/data', { authorization: `Bearer ${authenticationToken}` });
    assert.equal(atApp2.status, 200);
    const echo2 = (await atApp2.json()) as Echo;
    assert.equal(echo2.headers['x-ms-client-principal-name'], 'lee@example.com');
    assert.equal(echo2.headers.authorization, undefined);
    const me = await get('app1.localhost', '/.auth/me', { 'x-zumo-auth': authenticationToken });
    assert.equal(((await me.json()) as Array<{ user_id: string }>)[0]?.user_id, 'lee@example.com');
    // Not a cookie: a request from another site carrying the token is the app's own doing.
    const crossSite = await new UserAgent().request(gw.url('app1.localhost', '/data'), {
      method: 'POST',
      body: 'x',
      headers: { 'x-zumo-auth': authenticationToken, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(crossSite.status, 200);
  });

  test('refused: at an app that does not trust the issuing app, tampered, or after sign-out; 401 invalid_token', async () => {
    const { authenticationToken } = await nativeSignIn('max@example.com');
    const untrusted = await get('app3.localhost', '/data', { authorization: `Bearer ${authenticationToken}` });
    assert.equal(untrusted.status, 401);
    assert.match(untrusted.headers.get('www-authenticate')!, /error="invalid_token"/);
    assert.equal(((await untrusted.json()) as { reason: string }).reason, 'wrong-audience');
    assert.equal(
      (await get('app1.localhost', '/data', { 'x-zumo-auth': tamperedSignature(authenticationToken) })).status,
      401,
    );
    // A token refused is 401 even where anonymous requests pass: it was presented as a credential.
    assert.equal((await get('open.localhost', '/data', { 'x-zumo-auth': 'not-a-token' })).status, 401);
    const logout = await get('app1.localhost', '/.auth/logout', { 'x-zumo-auth': authenticationToken });
    assert.equal(logout.status, 302);
    const after = await get('app1.localhost', '/data', { 'x-zumo-auth': authenticationToken });
    assert.equal(after.status, 401);
    assert.equal(((await after.json()) as { reason: string }).reason, 'session-ended');
  });

  test("a bearer token that is not SignOnce's is the app's business: passed on untouched", async () => {
    const theirs = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const response = await get('open.localhost', '/api', { authorization: `Bearer ${theirs}` });
    assert.equal(response.status, 200);
    const echo = (await response.json()) as Echo;
    assert.equal(echo.headers.authorization, `Bearer ${theirs}`);
    assert.equal(echo.headers['x-ms-client-principal-name'], undefined);
  });
});

const LEGACY_SECRET = 'a-backend-shared-secret-of-32-bytes-or-more';

describe('POST /.auth/exchange', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [
        {
          id: 'mobile',
          hosts: [`mobile.localhost:${port}`],
          upstream,
          defaultProvider: 'dev',
          allowedExternalRedirectUrls: ['myapp://cb'],
        },
        {
          id: 'api',
          hosts: [`api.localhost:${port}`],
          upstream,
          unauthenticatedAction: 'Return401',
          acceptTokensFrom: ['mobile'],
        },
        { id: 'other', hosts: [`other.localhost:${port}`], upstream, unauthenticatedAction: 'Return401' },
        {
          id: 'legacy',
          hosts: [`legacy.localhost:${port}`],
          upstream,
          unauthenticatedAction: 'Return401',
          acceptTokensFrom: ['mobile'],
          tokenSigning: { alg: 'HS256', secret: LEGACY_SECRET },
        },
      ],
    }));
  });
  after(() => gw?.close());

  const exchange = (token: string | undefined, body: string, host = 'mobile.localhost') =>
    new UserAgent().request(gw.url(host, '/.auth/exchange'), {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...(token ? { 'x-zumo-auth': token } : {}) },
    });

  test('a token for a trusting app, for the same session; refused toward apps that do not trust the source, and without a token', async () => {
    const { ua, authenticationToken } = await nativeDevSignIn(gw.url('mobile.localhost', ''), 'myapp://cb', {
      user_id: 'nina@example.com',
    });

    const exchanged = await exchange(authenticationToken, JSON.stringify({ audience: 'api' }));
    assert.equal(exchanged.status, 200);
    const { authenticationToken: apiToken } = (await exchanged.json()) as { authenticationToken: string };
    const claims = (token: string) =>
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims(apiToken).aud, 'api');
    assert.equal(claims(apiToken).sub, claims(authenticationToken).sub);
    assert.equal(claims(apiToken).sid, claims(authenticationToken).sid);
    assert.notEqual(claims(apiToken).uid, claims(authenticationToken).uid, 'pairwise: another id for another app');
    assert.equal(
      (
        await new UserAgent().request(gw.url('api.localhost', '/x'), {
          headers: { authorization: `Bearer ${apiToken}` },
        })
      ).status,
      200,
    );

    assert.equal((await exchange(authenticationToken, JSON.stringify({ audience: 'other' }))).status, 403);
    // A legacy app's token: HS256 under its own secret, as its backend checks it; accepted at its host.
    const { authenticationToken: legacyToken } = (await (
      await exchange(authenticationToken, JSON.stringify({ audience: 'legacy' }))
    ).json()) as { authenticationToken: string };
    const { jwtVerify } = await import('jose');
    const legacyClaims = (
      await jwtVerify(legacyToken, new TextEncoder().encode(LEGACY_SECRET), {
        algorithms: ['HS256'],
        audience: 'legacy',
      })
    ).payload;
    assert.equal(legacyClaims.sub, claims(authenticationToken).sub);
    assert.equal(
      (await new UserAgent().request(gw.url('legacy.localhost', '/x'), { headers: { 'x-zumo-auth': legacyToken } }))
        .status,
      200,
    );
    assert.equal(
      (await new UserAgent().request(gw.url('other.localhost', '/x'), { headers: { 'x-zumo-auth': legacyToken } }))
        .status,
      401,
    );
    assert.equal(
      (await exchange(apiToken, JSON.stringify({ audience: 'mobile' }), 'api.localhost')).status,
      403,
      'trust is one way',
    );
    assert.equal((await exchange(authenticationToken, JSON.stringify({ audience: 'nope' }))).status, 400);
    assert.equal((await exchange(authenticationToken, 'not json')).status, 400);
    assert.equal((await exchange(undefined, JSON.stringify({ audience: 'api' }))).status, 401);
    const cookieOnly = await ua.request(gw.url('mobile.localhost', '/.auth/exchange'), {
      method: 'POST',
      body: JSON.stringify({ audience: 'api' }),
    });
    assert.equal(cookieOnly.status, 401, 'never with the cookie alone');
  });
});
