// Identity providers' access tokens at the gateway (apps[].acceptProviderTokens; Easy Auth's
// allowedAudiences), end to end: a real OpenID provider (oidc-provider) issues RFC 9068 JWT access
// tokens for resources to users (code flow) and to service clients (client credentials); the app
// gets the principal headers; a linked account's SignOnce groups decide access rules; an
// application principal meets `applications` rules; refusals are RFC 6750 401s pointing to the
// RFC 9728 metadata, never redirects; keys that cannot be fetched answer 503.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, generateKeyPair } from 'jose';
import { setAccountDisabled } from '../../src/accounts/accounts.ts';
import { startGatewayHarness, type Echo, type TestGateway } from '../support/gateway.ts';
import type { ServiceClient, TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';
import { nativeOidcTokens, oidcSignIn } from '../support/sign-in.ts';
import { tamperedSignature } from '../support/tokens.ts';
import { UserAgent } from '../support/user-agent.ts';

const ORDERS = 'api://orders';
const BILLING = 'api://billing';
const WORKER: ServiceClient = { clientId: 'orders-worker', clientSecret: 'orders-worker-secret-0123456789abcdef' };
const INTRUDER: ServiceClient = { clientId: 'intruder', clientSecret: 'intruder-secret-0123456789abcdef0123' };
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors' };
const NAVIGATE = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none' };
/** One request, no cookies, redirects not followed (*.localhost is loopback). */
const ask = (url: string, init: { headers?: Record<string, string> } = {}) => new UserAgent().request(url, init);

describe('provider bearer tokens at the gateway', () => {
  let gw: TestGateway;
  let idp: TestIdp;
  let goneIssuer: string;
  const url = (app: string, path = '/') => gw.url(`${app}.localhost`, path);
  const bearer = (token: string, headers: Record<string, string> = API) => ({
    headers: { ...headers, authorization: `Bearer ${token}` },
  });
  /** A user's access token for `resource`, from the provider's code flow (the app's own sign-in). */
  const userToken = (user: string, resource = ORDERS) =>
    nativeOidcTokens(idp.issuer, idp, `http://auth.localhost:${gw.port}/.auth/login/idp/callback`, user, {
      resource,
      scope: 'orders.read',
    }).then((tokens) => tokens.access_token);
  const principalOf = (echo: Echo) =>
    JSON.parse(Buffer.from(String(echo.headers['x-ms-client-principal']), 'base64').toString()) as {
      auth_typ: string;
      claims: Array<{ typ: string; val: string }>;
    };

  before(async () => {
    goneIssuer = `http://127.0.0.1:${await freePort()}`;
    gw = await startGatewayHarness(
      ({ port, upstream, idps }) => {
        const app = (id: string, more: Record<string, unknown>) => ({
          id,
          hosts: [`${id}.localhost:${port}`],
          upstream,
          defaultProvider: 'idp',
          ...more,
        });
        const orders = [{ provider: 'idp', audiences: [ORDERS] }];
        return {
          publicUrl: `http://auth.localhost:${port}`,
          providers: [
            {
              id: 'idp',
              type: 'oidc',
              issuer: idps[0]!.issuer,
              clientId: idps[0]!.clientId,
              clientSecret: idps[0]!.clientSecret,
            },
            // A provider whose discovery cannot be reached.
            { id: 'gone', type: 'oidc', issuer: goneIssuer, clientId: 'x' },
          ],
          apps: [
            app('orders', { acceptProviderTokens: [...orders, { provider: 'gone', audiences: [ORDERS] }] }),
            app('staff', { acceptProviderTokens: orders, access: [{ allow: { groups: ['staff'] } }] }),
            app('jobs', { acceptProviderTokens: orders, access: [{ allow: { applications: [WORKER.clientId] } }] }),
            app('plain', { unauthenticatedAction: 'AllowAnonymous' }),
          ],
        };
      },
      {
        idps: [
          {
            providerIds: ['idp'],
            options: {
              resourceServers: {
                [ORDERS]: { scope: 'orders.read', accessTokenFormat: 'jwt' },
                [BILLING]: { scope: 'orders.read', accessTokenFormat: 'jwt' },
              },
              serviceClients: [WORKER, INTRUDER],
            },
          },
        ],
      },
    );
    idp = gw.idps[0]!;
  });
  after(() => gw?.close());

  test("a user's token: the app gets the principal headers (Easy Auth's shapes) and the token itself", async () => {
    const token = await userToken('alice');
    const answer = await ask(url('orders', '/orders?x=1'), bearer(token));
    assert.equal(answer.status, 200);
    const echo = (await answer.json()) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-name'], 'alice', 'no name claim in the token: its subject');
    assert.equal(echo.headers['x-ms-client-principal-id'], 'alice');
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'idp');
    const principal = principalOf(echo);
    assert.equal(principal.auth_typ, 'idp');
    for (const [typ, val] of [
      ['aud', ORDERS],
      ['scope', 'orders.read'],
      ['client_id', idp.clientId],
      ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier', 'alice'],
    ])
      assert.ok(
        principal.claims.some((claim) => claim.typ === typ && claim.val === val),
        `${typ} in ${JSON.stringify(principal.claims)}`,
      );
    assert.equal(echo.headers.authorization, `Bearer ${token}`, 'passed on, for the app to call on with');
    assert.equal(echo.headers['x-ms-token-idp-access-token'], undefined);
    // /.auth/me answers the token's principal, and none of the tokens SignOnce keeps.
    const me = await ask(url('orders', '/.auth/me'), bearer(token));
    assert.equal(me.status, 200);
    const [entry, ...more] = (await me.json()) as Array<Record<string, unknown>>;
    assert.deepEqual([entry!.provider_name, entry!.user_id, more.length], ['idp', 'alice', 0]);
    assert.equal(entry!.access_token, undefined);
    // SignOnce's own endpoints need a SignOnce sign-in.
    const refresh = await ask(url('orders', '/.auth/refresh'), bearer(token));
    assert.equal(refresh.status, 401);
    assert.match(((await refresh.json()) as { reason: string }).reason, /accepted by the app and \/\.auth\/me only/);
    assert.ok(!gw.logs.some((line) => line.includes(token)), 'no log line holds the token');
  });

  test("a linked account: its SignOnce groups decide the app's rules; a disabled account is refused", async () => {
    // Bob signs in through SignOnce once: his identity at the provider is linked to an account.
    const { landed } = await oidcSignIn(url('orders', '/'), 'bob');
    assert.equal(landed.status, 200);
    const store = await gw.store();
    const bob = (await store.findIdentity('idp', 'bob'))!.accountId;
    const [bobToken, carolToken] = [await userToken('bob'), await userToken('carol')];
    assert.equal((await ask(url('staff'), bearer(bobToken))).status, 403, 'not yet staff');
    await store.addGroupMembers('staff', [bob]);
    await sleep(1100); // session.cacheTtl
    const staff = await ask(url('staff'), bearer(bobToken));
    assert.equal(staff.status, 200);
    assert.equal(((await staff.json()) as Echo).headers['x-ms-client-principal-id'], 'bob');
    const carol = await ask(url('staff'), bearer(carolToken));
    assert.equal(carol.status, 403, 'a user of no account is in no SignOnce group');
    assert.equal(((await carol.json()) as { error: string }).error, 'access_denied');

    await setAccountDisabled(store, bob, true);
    await sleep(1100);
    const disabled = await ask(url('staff'), bearer(bobToken));
    assert.equal(disabled.status, 401);
    assert.match(disabled.headers.get('www-authenticate')!, /error_description="the account of this user is disabled"/);
    await setAccountDisabled(store, bob, false);
  });

  test('client credentials: an application principal; `applications` lets one client in and refuses another', async () => {
    const worker = await idp.clientCredentialsToken(WORKER, ORDERS, 'orders.read');
    const intruder = await idp.clientCredentialsToken(INTRUDER, ORDERS, 'orders.read');
    const allowed = await ask(url('jobs', '/run'), bearer(worker));
    assert.equal(allowed.status, 200);
    const echo = (await allowed.json()) as Echo;
    assert.equal(echo.headers['x-ms-client-principal-name'], WORKER.clientId);
    assert.equal(echo.headers['x-ms-client-principal-idp'], 'idp');
    const refused = await ask(url('jobs', '/run'), bearer(intruder));
    assert.equal(refused.status, 403);
    assert.deepEqual(await refused.json(), { error: 'access_denied', reason: 'no access rule lets this user in' });
    assert.ok(
      gw.logs.some((line) => line.includes('"application":"intruder"') && line.includes('access to jobs refused')),
    );
    // An application matches no condition on users (groups): the staff app refuses it.
    assert.equal((await ask(url('staff'), bearer(worker))).status, 403);
    // A user's token through an application is no application principal for `applications`' sake
    // unless its client is listed: SignOnce's client is not.
    assert.equal((await ask(url('jobs', '/run'), bearer(await userToken('alice')))).status, 403);
  });

  test('a refused token: 401 with the RFC 6750 challenge and resource_metadata, never a redirect', async () => {
    const billing = await userToken('alice', BILLING);
    const tokens = [billing, tamperedSignature(await userToken('alice')), 'not-a-jwt-at-all'];
    for (const token of tokens) {
      const answer = await ask(url('orders', '/page'), bearer(token, NAVIGATE));
      assert.equal(answer.status, 401);
      const challenge = answer.headers.get('www-authenticate')!;
      assert.match(
        challenge,
        new RegExp(
          `^Bearer realm="orders", error="invalid_token", error_description="[^"]+", resource_metadata="http://orders\\.localhost:${gw.port}/\\.well-known/oauth-protected-resource"$`,
        ),
      );
      assert.ok(!(await answer.text()).includes(token));
    }
    const wrongAudience = await ask(url('orders'), bearer(billing));
    assert.match(((await wrongAudience.json()) as { reason: string }).reason, /"aud" claim/);
    assert.equal(
      gw.received.filter((r) => r.rawHeaders.includes(`Bearer ${billing}`)).length,
      0,
      'the app never saw it',
    );
    assert.ok(!gw.logs.some((line) => tokens.some((token) => line.includes(token))));
    // Without a token an API caller is told where the metadata is too (RFC 9728 section 5.1).
    const anonymous = await ask(url('orders'), { headers: API });
    assert.equal(anonymous.status, 401);
    assert.equal(
      anonymous.headers.get('www-authenticate'),
      `Bearer realm="orders", resource_metadata="http://orders.localhost:${gw.port}/.well-known/oauth-protected-resource"`,
    );
  });

  test("an app without acceptProviderTokens: a bearer JWT is the app's business, passed on untouched", async () => {
    const token = await userToken('alice');
    const answer = await ask(url('plain'), bearer(token));
    assert.equal(answer.status, 200);
    const echo = (await answer.json()) as Echo;
    assert.equal(echo.headers.authorization, `Bearer ${token}`);
    assert.equal(echo.headers['x-ms-client-principal'], undefined);
  });

  test("the provider's keys cannot be fetched: 503, nothing said of the token", async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({
      iss: goneIssuer,
      aud: ORDERS,
      sub: 'x',
      scope: 'a',
      exp: Math.floor(Date.now() / 1000) + 60,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k' })
      .sign(privateKey);
    const answer = await ask(url('orders'), bearer(token));
    assert.equal(answer.status, 503);
    assert.equal(((await answer.json()) as { error: string }).error, 'temporarily_unavailable');
    assert.ok(
      gw.logs.some(
        (line) => line.includes("a provider's keys could not be fetched") && line.includes('"provider":"gone"'),
      ),
    );
  });

  test('GET /.well-known/oauth-protected-resource (RFC 9728) on each app host', async () => {
    const orders = await ask(url('orders', '/.well-known/oauth-protected-resource'));
    assert.equal(orders.status, 200);
    assert.deepEqual(await orders.json(), {
      resource: `http://orders.localhost:${gw.port}`,
      authorization_servers: [idp.issuer, goneIssuer],
      bearer_methods_supported: ['header'],
      resource_name: 'orders',
    });
    const plain = await ask(url('plain', '/.well-known/oauth-protected-resource'));
    assert.deepEqual(await plain.json(), {
      resource: `http://plain.localhost:${gw.port}`,
      bearer_methods_supported: ['header'],
      resource_name: 'plain',
    });
  });
});
