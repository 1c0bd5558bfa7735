// Refreshing ahead of expiry: with short-lived access tokens (5 s) and refresh.ahead of 3 s, an
// app behind the gateway receiving requests for 10 minutes of a simulated clock never gets a token
// that has expired, and the provider sees one refresh per token lifetime, not one per request.
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestIdp } from '../support/idp.ts';
import type { UserAgent } from '../support/user-agent.ts';
import { oidcSignIn } from '../support/sign-in.ts';

let idp: TestIdp;
let gw: TestGateway;

before(async () => {
  idp = await startOidcProvider([], undefined, { accessTokenTtlSeconds: 5 });
  gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    // Longer than the tokens live: a cached answer must still never carry a token past its refresh.
    session: { cacheTtl: '60s' },
    // 5 s tokens need a grant every 2 to 3 s: more than the default providerGrants allows (a burst
    // of 6, then one every 10 s, made for tokens that live 10 s or longer).
    rateLimits: { refresh: { providerGrants: { limit: 60, window: '1m' } } },
    providers: ['proceed', '401'].map((onRefreshFailure) => ({
      id: onRefreshFailure === 'proceed' ? 'idp' : 'strict',
      type: 'oidc',
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      scopes: ['openid', 'email', 'offline_access'],
      authorizationParams: { prompt: 'consent' },
      refresh: { ahead: '3s', onRefreshFailure },
    })),
    apps: [
      { id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'idp', tokenStore: true },
      { id: 'strict', hosts: [`strict.localhost:${port}`], upstream, defaultProvider: 'strict', tokenStore: true },
    ],
  }));
  await idp.close();
  idp = await startOidcProvider(
    ['idp', 'strict'].map((id) => `http://auth.localhost:${gw.port}/.auth/login/${id}/callback`),
    idp,
    { accessTokenTtlSeconds: 5 },
  );
});
after(async () => {
  await gw?.close();
  await idp?.close();
});

/** The provider's view of an access token (RFC 7662 introspection). */
const introspect = async (token: string) =>
  (await (
    await fetch(`${idp.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: idp.clientId, client_secret: idp.clientSecret }),
    })
  ).json()) as { active: boolean };

/** Signs `user` in at `host` through the provider's pages. */
async function signIn(host: string, user: string): Promise<UserAgent> {
  const { ua, landed } = await oidcSignIn(gw.url(host, '/'), user);
  assert.equal(landed.status, 200);
  return ua;
}

test('10 simulated minutes of requests: the app never receives an access token that has expired, or that the provider no longer accepts', async () => {
  const ua = await signIn('app.localhost', 'erin');
  const grants = idp.refreshGrants;
  const seen = new Set<string>();
  // One clock for SignOnce and the provider (both in this process): Date moves only when told to.
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  try {
    for (let second = 0; second < 600; second++) {
      mock.timers.tick(1000);
      const sentAt = Date.now();
      const echoes = await Promise.all(
        [1, 2].map(async () => (await (await ua.request(gw.url('app.localhost', '/'))).json()) as Echo),
      );
      for (const echo of echoes) {
        const token = String(echo.headers['x-ms-token-idp-access-token']);
        const expiresOn = Date.parse(String(echo.headers['x-ms-token-idp-expires-on']));
        assert.ok(
          expiresOn > sentAt,
          `at ${second} s the app received a token that expired ${sentAt - expiresOn} ms before the request`,
        );
        if (!seen.has(token))
          assert.equal((await introspect(token)).active, true, `at ${second} s: a token the provider does not accept`);
        seen.add(token);
      }
    }
  } finally {
    mock.timers.reset();
  }
  const refreshes = idp.refreshGrants - grants;
  // 5 s tokens refreshed within 3 s of their end: one refresh every 2 to 3 s, never one per request.
  assert.ok(refreshes >= 200 && refreshes <= 300, `${refreshes} refreshes for 1,200 requests over 600 s of 5 s tokens`);
  assert.equal(seen.size, refreshes + 1, 'each refresh brought a new token, and the app got each one');
});

test('when the refresh ahead fails: proceed sends the tokens it has; onRefreshFailure 401 refuses the request', async () => {
  const lenient = await signIn('app.localhost', 'fred');
  const strict = await signIn('strict.localhost', 'gina');
  await idp.close();
  await sleep(2500); // the tokens are now within `ahead` of their expiry, and the provider is gone
  const proceeded = await lenient.request(gw.url('app.localhost', '/'));
  assert.equal(proceeded.status, 200);
  assert.ok(((await proceeded.json()) as Echo).headers['x-ms-token-idp-access-token'], 'with the tokens it has');
  assert.equal((await strict.request(gw.url('strict.localhost', '/'))).status, 401);
});
