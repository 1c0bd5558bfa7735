// GET /.auth/refresh against a real OpenID provider (oidc-provider, refresh tokens issued and
// counted): concurrent refreshes cause one refresh grant, in one gateway and across several on one
// PostgreSQL; a revoked grant is 403 and removes the tokens; a provider down is 503 and keeps them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.ts';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { startGateway } from '../../src/gateway/gateway.ts';
import { openStore } from '../../src/store/index.ts';
import { startGatewayWithIdp, startEcho, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestIdp } from '../support/idp.ts';
import { capturedLogger } from '../support/logs.ts';
import { freePort } from '../support/ports.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { tempDir } from '../support/tmp.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';
import { handedOver, oidcSignIn } from '../support/sign-in.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const provider = (issuer: string, idp: TestIdp) => ({
  id: 'idp',
  type: 'oidc',
  issuer,
  clientId: idp.clientId,
  clientSecret: idp.clientSecret,
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  authorizationParams: { prompt: 'consent' },
});

/** Signs `user` in to the app at `appUrl` through the provider's login and consent pages. */
async function signIn(appUrl: string, user: string): Promise<UserAgent> {
  const { ua, landed } = await oidcSignIn(appUrl, user);
  assert.equal(landed.status, 200);
  return ua;
}

const accessTokenOf = async (ua: UserAgent, url: string) =>
  ((await (await ua.request(url)).json()) as Array<{ access_token?: string }>)[0]?.access_token;

describe('GET /.auth/refresh', () => {
  let idp: TestIdp;
  let gw: TestGateway;

  before(async () => {
    // Refresh tokens rotate with reuse detection (as always in these tests), and resource indicators are on.
    ({ gw, idp } = await startGatewayWithIdp(
      (port, upstream, idp) => ({
        publicUrl: `http://auth.localhost:${port}`,
        devMode: true,
        providers: [provider(idp.issuer, idp), { id: 'dev', type: 'dev' }],
        apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'idp', tokenStore: true }],
      }),
      { resourceServers: { 'https://api.example.com': { scope: 'api:read' } } },
    ));
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  test('50 concurrent refreshes: one refresh grant at the provider, all 200, all see the same new token', async () => {
    const ua = await signIn(gw.url('app.localhost', '/'), 'alice');
    const me = gw.url('app.localhost', '/.auth/me');
    const before = await accessTokenOf(ua, me);
    const grants = idp.refreshGrants;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => ua.request(gw.url('app.localhost', '/.auth/refresh'))),
    );
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(idp.refreshGrants - grants, 1, 'exactly one refresh grant');
    const after = await accessTokenOf(ua, me);
    assert.ok(after && after !== before, 'a new access token is stored');
    const echo = (await (await ua.request(gw.url('app.localhost', '/'))).json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-ms-token-idp-access-token'], after, 'and reaches the app at once');
  });

  test('3 rounds of 50 concurrent refreshes by one user within a minute: every answer 200, at most one refresh grant per round', async () => {
    const ua = await signIn(gw.url('app.localhost', '/'), 'many-tabs');
    const grantsPerRound: number[] = [];
    for (let round = 0; round < 3; round++) {
      // Past the 5 s in which callers share a refresh's result: each round asks the provider anew.
      if (round > 0) await sleep(5_100);
      const grants = idp.refreshGrants;
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => ua.request(gw.url('app.localhost', '/.auth/refresh'))),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        Array(50).fill(200),
        `round ${round + 1}: every caller served`,
      );
      grantsPerRound.push(idp.refreshGrants - grants);
    }
    assert.ok(
      grantsPerRound.every((n) => n <= 1),
      `at most one grant per round: ${grantsPerRound.join(', ')}`,
    );
    assert.ok(
      grantsPerRound.some((n) => n === 1),
      'the provider was asked',
    );
  });

  test('not signed in: 401; no refresh token stored: 400 saying how to get one', async () => {
    assert.equal((await new UserAgent().request(gw.url('app.localhost', '/.auth/refresh'))).status, 401);
    const ua = new UserAgent();
    const form = await ua.navigate(gw.url('app.localhost', '/.auth/login/dev'));
    await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'nobody@example.com' });
    const answer = await ua.request(gw.url('app.localhost', '/.auth/refresh'));
    assert.equal(answer.status, 400);
    assert.match(((await answer.json()) as { error: string }).error, /offline_access/);
  });

  test('a revoked grant: 403, and the tokens are removed; a provider down: 503, and the tokens stay', async () => {
    const ua = await signIn(gw.url('app.localhost', '/'), 'bob');
    const store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
    try {
      const { account } = await store.resolveIdentity('idp', 'bob');
      const stored = await store.getTokens({ accountId: account.id, provider: 'idp', resource: '' });
      await idp.revoke(stored!.tokens.refreshToken!);
      const refused = await ua.request(gw.url('app.localhost', '/.auth/refresh'));
      assert.equal(refused.status, 403);
      assert.equal(await store.getTokens({ accountId: account.id, provider: 'idp', resource: '' }), undefined);

      const carol = await signIn(gw.url('app.localhost', '/'), 'carol');
      const me = gw.url('app.localhost', '/.auth/me');
      const kept = await accessTokenOf(carol, me);
      await idp.close();
      const down = await carol.request(gw.url('app.localhost', '/.auth/refresh'));
      assert.equal(down.status, 503);
      assert.equal(await accessTokenOf(carol, me), kept, 'the stored tokens are untouched');
      assert.ok(gw.logs.some((l) => l.includes('token refresh failed') && l.includes('"failure":"unreachable"')));
    } finally {
      await store.close();
    }
  });
});

describe('GET /.auth/refresh with an authentication token: a renewed session and a new token, within the refresh grace too', () => {
  const LIFETIME_MS = 1000;
  const GRACE_MS = 1800;
  let idp: TestIdp;
  let gw: TestGateway;

  before(async () => {
    ({ gw, idp } = await startGatewayWithIdp((port, upstream, idp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      session: { lifetime: `${LIFETIME_MS}ms`, tokenRefreshExtensionHours: GRACE_MS / 3_600_000 },
      providers: [provider(idp.issuer, idp)],
      apps: [
        {
          id: 'app',
          hosts: [`app.localhost:${port}`],
          upstream,
          defaultProvider: 'idp',
          tokenStore: true,
          allowedExternalRedirectUrls: ['myapp://cb'],
        },
      ],
    })));
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  /** A native app's sign-in: its authentication token. */
  const signInNative = async (user: string) =>
    handedOver(
      (await oidcSignIn(gw.url('app.localhost', '/.auth/login/idp?post_login_redirect_uri=myapp://cb'), user)).landed,
    ).authenticationToken;
  const withToken = (path: string, token: string) =>
    new UserAgent().request(gw.url('app.localhost', path), { headers: { 'x-zumo-auth': token } });
  const refreshed = async (token: string) => {
    const answer = await withToken('/.auth/refresh', token);
    return {
      status: answer.status,
      token:
        answer.status === 200
          ? ((await answer.json()) as { authenticationToken: string }).authenticationToken
          : undefined,
    };
  };

  test('expired within the grace: only /.auth/refresh takes the token, and its new token works; a sign-out ends it', async () => {
    const first = await signInNative('erin');
    const renewed = await refreshed(first);
    assert.equal(renewed.status, 200, 'a live token is refreshed');
    await sleep(LIFETIME_MS + 200);
    for (const path of ['/', '/.auth/me'])
      assert.equal((await withToken(path, renewed.token!)).status, 401, `${path}: expired`);
    const graced = await refreshed(renewed.token!);
    assert.equal(graced.status, 200, 'expired, within the grace: refreshed');
    const echo = await withToken('/', graced.token!);
    assert.equal(echo.status, 200, 'the new token works');
    assert.match(
      ((await echo.json()) as { headers: Record<string, string> }).headers['x-ms-client-principal-name'] ?? '',
      /erin/,
    );

    await sleep(LIFETIME_MS + 200);
    assert.equal((await withToken('/.auth/logout', graced.token!)).status, 302);
    assert.equal(
      (await refreshed(graced.token!)).status,
      401,
      'signed out with a token in its grace: it cannot be renewed',
    );
  });

  test('expired longer than the grace: 401, sign in again', async () => {
    const token = await signInNative('frank');
    await sleep(LIFETIME_MS + GRACE_MS + 300);
    const late = await withToken('/.auth/refresh', token);
    assert.equal(late.status, 401);
    assert.equal(((await late.json()) as { reason: string }).reason, 'session-ended');
  });
});

test('three gateways on one PostgreSQL: concurrent refreshes through all of them, one refresh grant', {
  skip: postgresSkipReason,
}, async () => {
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  const idp0 = await startOidcProvider([]);
  const echo = await startEcho();
  const port = await freePort();
  await idp0.close();
  const idp = await startOidcProvider([`http://auth.localhost:${port}/.auth/login/idp/callback`], idp0);
  const { dir, remove } = await tempDir();
  const key = generateKey();
  const ports = [port, await freePort(), await freePort()];
  const gateways = await Promise.all(
    ports.map((listenPort) =>
      startGateway(
        parseConfig(
          stringify({
            publicUrl: `http://auth.localhost:${port}`,
            listen: { host: '127.0.0.1', port: listenPort },
            store: url,
            secrets: { encryptionKeys: [key] },
            providers: [provider(idp.issuer, idp)],
            apps: [
              {
                id: 'app',
                hosts: [`app.localhost:${port}`],
                upstream: echo.url,
                defaultProvider: 'idp',
                tokenStore: true,
              },
            ],
          }),
          join(dir, 'signonce.yaml'),
          {},
        ),
        capturedLogger().logger,
      ),
    ),
  );
  try {
    const ua = await signIn(`http://app.localhost:${port}/`, 'dave');
    const cookie = ua.cookieHeader(new URL(`http://app.localhost:${port}/`))!;
    const grants = idp.refreshGrants;
    // Every gateway is reached on its own port, with the app's Host (as a load balancer sends it).
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        new UserAgent().request(`http://127.0.0.1:${ports[i % 3]}/.auth/refresh`, {
          headers: { host: `app.localhost:${port}`, cookie },
        }),
      ),
    );
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(idp.refreshGrants - grants, 1, 'exactly one refresh grant across three instances');
  } finally {
    await Promise.all(gateways.map((g) => g.close()));
    await idp.close();
    await new Promise((resolve) => echo.server.close(resolve));
    await remove();
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  }
});
