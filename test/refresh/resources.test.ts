// Tokens for several resources from one sign-in (apps[].resources), against a real OpenID provider
// with RFC 8707 resource indicators, refresh-token rotation with reuse detection, and
// introspection: each token is for its own resource, got once however many ask, refreshed on its
// own, injected or served at /.auth/token; a rotated refresh token is kept for the next refresh.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatewayWithIdp, type TestGateway } from '../support/gateway.ts';
import type { IdpOptions, TestIdp } from '../support/idp.ts';
import { oidcSignIn } from '../support/sign-in.ts';
import { UserAgent, type Response } from '../support/user-agent.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';

const API_A = 'https://api-a.example.com';
const API_B = 'https://api-b.example.com';
// Tokens of API A live 3 s and are refreshed 1 s ahead of their end; API B's live an hour.
const RESOURCE_SERVERS: IdpOptions['resourceServers'] = {
  [API_A]: { scope: 'a:read', accessTokenTtlSeconds: 3 },
  [API_B]: { scope: 'b:read b:write' },
};

interface ResourceToken {
  access_token: string;
  expires_on: string;
}

/** A gateway whose app declares API A and API B as resources of the real provider `idp`. */
function startResourcesGateway({
  ahead,
  injectA = false,
  rateLimits,
  resourceServers,
}: {
  ahead: string;
  injectA?: boolean;
  rateLimits?: Record<string, unknown>;
  resourceServers: IdpOptions['resourceServers'];
}) {
  return startGatewayWithIdp(
    (port, upstream, idp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'profile', 'offline_access', 'a:read', 'b:read'],
          authorizationParams: { prompt: 'consent' },
          refresh: { ahead },
        },
      ],
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream,
          defaultProvider: 'idp',
          tokenStore: true,
          resources: [
            {
              alias: 'api-a',
              provider: 'idp',
              resource: API_A,
              scopes: ['a:read'],
              ...(injectA ? { inject: true } : {}),
            },
            { alias: 'api-b', provider: 'idp', resource: API_B, scopes: ['b:read'] },
          ],
        },
      ],
      ...(rateLimits ? { rateLimits } : {}),
    }),
    { resourceServers },
  );
}

describe('apps[].resources: a token per resource from the one sign-in', () => {
  let idp: TestIdp;
  let gw: TestGateway;

  before(async () => {
    ({ gw, idp } = await startResourcesGateway({ ahead: '1s', injectA: true, resourceServers: RESOURCE_SERVERS }));
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  const signIn = async (user: string) => {
    const { ua, landed } = await oidcSignIn(gw.url('app.localhost', '/'), user);
    assert.equal(landed.status, 200);
    return ua;
  };
  const tokenFor = async (ua: UserAgent, alias: string) => {
    const answer = await ua.request(gw.url('app.localhost', `/.auth/token?resource=${alias}`));
    const body = await answer.text();
    assert.equal(answer.status, 200, body);
    return JSON.parse(body) as ResourceToken;
  };
  const introspect = async (token: string) =>
    (await (
      await fetch(`${idp.issuer}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: idp.clientId, client_secret: idp.clientSecret }),
      })
    ).json()) as { active: boolean; aud?: string | string[]; scope?: string };

  test("two resources, two tokens: each is for its own resource only, as the provider's introspection says", async () => {
    const ua = await signIn('grace');
    const a = await tokenFor(ua, 'api-a');
    const b = await tokenFor(ua, 'api-b');
    assert.notEqual(a.access_token, b.access_token);
    assert.ok(Date.parse(a.expires_on) > Date.now() && Date.parse(b.expires_on) > Date.now());
    const [ia, ib] = [await introspect(a.access_token), await introspect(b.access_token)];
    assert.deepEqual([ia.active, ia.aud, ia.scope], [true, API_A, 'a:read']);
    assert.deepEqual([ib.active, ib.aud, ib.scope], [true, API_B, 'b:read']);
    assert.equal((await tokenFor(ua, 'api-b')).access_token, b.access_token, 'a fresh token is served as stored');
    // Each resource token rotated the refresh token; the rotated one was kept: the sign-in's own refresh still works.
    assert.equal((await ua.request(gw.url('app.localhost', '/.auth/refresh'))).status, 200);
    assert.equal((await tokenFor(ua, 'api-b')).access_token, b.access_token);
  });

  test('inject: true puts the token in X-SIGNONCE-TOKEN-{ALIAS}; a client cannot send its own', async () => {
    const ua = await signIn('heidi');
    const echo = await ua.request(gw.url('app.localhost', '/'), {
      headers: { 'x-signonce-token-api-b': 'forged', X_SIGNONCE_TOKEN_API_A: 'forged' },
    });
    const { headers } = (await echo.json()) as { headers: Record<string, string> };
    const a = headers['x-signonce-token-api-a'];
    assert.ok(a && a !== 'forged');
    assert.equal((await introspect(a)).aud, API_A);
    assert.ok(Date.parse(headers['x-signonce-token-api-a-expires-on']!) > Date.now());
    assert.equal(headers['x-signonce-token-api-b'], undefined, 'api-b is not injected, and the forged header is gone');
    assert.equal(Object.keys(headers).filter((name) => /signonce/i.test(name)).length, 2);
  });

  test('20 concurrent first asks: one refresh grant, one token for all', async () => {
    const ua = await signIn('ivan');
    const grants = idp.refreshGrants;
    const answers = await Promise.all(Array.from({ length: 20 }, () => tokenFor(ua, 'api-b')));
    assert.equal(new Set(answers.map((a) => a.access_token)).size, 1);
    assert.equal(idp.refreshGrants - grants, 1);
  });

  test('each resource is refreshed on its own, before it expires', async () => {
    const ua = await signIn('judy');
    const a = await tokenFor(ua, 'api-a');
    const b = await tokenFor(ua, 'api-b');
    await sleep(2200);
    const a2 = await tokenFor(ua, 'api-a');
    assert.notEqual(a2.access_token, a.access_token, 'within refresh.ahead of its end: a new token');
    assert.ok(Date.parse(a2.expires_on) - Date.now() > 1000, 'one not about to lapse');
    assert.equal((await introspect(a2.access_token)).aud, API_A);
    assert.equal((await tokenFor(ua, 'api-b')).access_token, b.access_token, 'the other resource is left alone');
  });

  test('refused: a resource the app did not declare (400), anyone not signed in (401)', async () => {
    const ua = await signIn('ken');
    for (const query of ['?resource=api-c', `?resource=${encodeURIComponent(API_A)}`, '']) {
      const answer = await ua.request(gw.url('app.localhost', `/.auth/token${query}`));
      assert.equal(answer.status, 400, query);
      assert.match(((await answer.json()) as { error: string }).error, /declared: api-a, api-b/);
    }
    assert.equal((await new UserAgent().request(gw.url('app.localhost', '/.auth/token?resource=api-a'))).status, 401);
  });

  test('a revoked grant: 403, and every token of the provider goes', async () => {
    const ua = await signIn('lena');
    await tokenFor(ua, 'api-a');
    await tokenFor(ua, 'api-b');
    const store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
    try {
      const { account } = await store.resolveIdentity('idp', 'lena');
      const signInTokens = await store.getTokens({ accountId: account.id, provider: 'idp', resource: '' });
      await idp.revoke(signInTokens!.tokens.refreshToken!);
      await sleep(2200);
      assert.equal(
        (await ua.request(gw.url('app.localhost', '/.auth/token?resource=api-a'))).status,
        403,
        'api-a is due for a refresh: refused',
      );
      assert.deepEqual(await store.listTokens(account.id), [], "the sign-in's tokens and both resources' are gone");
      assert.equal(
        (await ua.request(gw.url('app.localhost', '/.auth/token?resource=api-b'))).status,
        400,
        'no refresh token is left',
      );
    } finally {
      await store.close();
    }
  });
});

describe('rateLimits.refresh.providerGrants: grants asked of the provider are limited, not callers', () => {
  let idp: TestIdp;
  let gw: TestGateway;

  before(async () => {
    // refresh.ahead of 2 h, longer than any token here lives: every ask is due for a new grant.
    // API A's tokens live an hour, API B's a second.
    ({ gw, idp } = await startResourcesGateway({
      ahead: '2h',
      rateLimits: { refresh: { providerGrants: { limit: 2, window: '1m' } } },
      resourceServers: { [API_A]: { scope: 'a:read' }, [API_B]: { scope: 'b:read', accessTokenTtlSeconds: 1 } },
    }));
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  test('/.auth/token: two grants a minute per resource; over that, the stored token while it works (200), else 429 with Retry-After', async () => {
    const { ua, landed } = await oidcSignIn(gw.url('app.localhost', '/'), 'mona');
    assert.equal(landed.status, 200);
    const ask = (alias: string) => ua.request(gw.url('app.localhost', `/.auth/token?resource=${alias}`));
    const tokenOf = async (answer: Response) => ((await answer.json()) as ResourceToken).access_token;

    const first = await tokenOf(await ask('api-a'));
    const second = await tokenOf(await ask('api-a'));
    assert.notEqual(second, first, 'within the limit, each due token is got anew');
    const over = await Promise.all(Array.from({ length: 20 }, () => ask('api-a')));
    assert.deepEqual(
      over.map((a) => a.status),
      Array(20).fill(200),
      'over the limit, the token that still works is served',
    );
    assert.deepEqual(new Set(await Promise.all(over.map(tokenOf))), new Set([second]));
    assert.equal(idp.refreshGrantsFor(API_A), 2, 'the provider was asked twice, for 22 callers');

    await ask('api-b');
    const lastB = (await (await ask('api-b')).json()) as ResourceToken;
    assert.equal(idp.refreshGrantsFor(API_B), 2, 'another resource has its own limit');
    await sleep(Date.parse(lastB.expires_on) - Date.now() + 100);
    const refused = await ask('api-b');
    assert.equal(refused.status, 429, 'expired, and no grant may be asked yet');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}: one grant back every 30 s`);
    assert.equal(idp.refreshGrantsFor(API_B), 2);
  });
});
