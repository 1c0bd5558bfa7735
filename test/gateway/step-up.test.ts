// Step-up for a recent sign-in (access rules' `require: { maxAge }`), over HTTP: a session older
// than the rule allows is sent to sign in again (prompt=login) when a browser navigates, and told
// what is missing otherwise (401, RFC 9470's insufficient_user_authentication with max_age).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '../../src/crypto/keyring.ts';
import { sealSessionCookie } from '../../src/session/cookies.ts';
import { openStore } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [
      {
        id: 'shop',
        hosts: [`shop.localhost:${port}`],
        upstream,
        defaultProvider: 'dev',
        access: [
          { paths: ['/billing/*'], allow: { authenticated: true }, require: { maxAge: '5m' } },
          { allow: { authenticated: true } },
        ],
      },
    ],
  }));
});
after(() => gw?.close());

/** A browser holding a session of the shop signed in `ageMs` ago (written with the store's clock set back). */
async function signedInAgo(ageMs: number): Promise<UserAgent> {
  const fresh = new UserAgent();
  await devSignIn(gw.url('shop.localhost', '/'), 'old@example.com', fresh);
  const keyring = new Keyring(gw.config.secrets.encryptionKeys);
  const store = await openStore(gw.config.store, { keyring, now: () => Date.now() - ageMs });
  const [session] = await store.listAccountSessions((await store.findIdentity('dev', 'old@example.com'))!.accountId);
  const { secret } = await store.createSession({
    accountId: session!.accountId,
    lifetimeMs: 3_600_000,
    data: session!.data,
  });
  await store.close();
  const host = `shop.localhost:${gw.port}`;
  const ua = new UserAgent();
  ua.jar.set(
    host,
    new Map([['AppServiceAuthSession', { value: sealSessionCookie(keyring, secret, host), path: '/' }]]),
  );
  return ua;
}

test('a fresh session passes; one older than maxAge is sent to sign in again, or told (401, max_age) when it cannot be', async () => {
  const fresh = new UserAgent();
  await devSignIn(gw.url('shop.localhost', '/'), 'new@example.com', fresh);
  assert.equal((await fresh.request(gw.url('shop.localhost', '/billing/invoices'))).status, 200, 'signed in just now');

  const old = await signedInAgo(6 * 60_000);
  const home = await old.request(gw.url('shop.localhost', '/home'));
  assert.equal(home.status, 200, 'other paths need no recent sign-in');
  assert.match(await home.text(), /x-ms-client-principal/, 'as the user');
  const navigation = await old.request(gw.url('shop.localhost', '/billing/invoices'));
  assert.equal(navigation.status, 302);
  assert.equal(
    navigation.headers.get('location'),
    `/.auth/login/dev?prompt=login&max_age=0&post_login_redirect_uri=${encodeURIComponent('/billing/invoices')}`,
  );
  const api = await old.request(gw.url('shop.localhost', '/billing/invoices'), {
    headers: { accept: 'application/json', 'sec-fetch-mode': 'cors' },
  });
  assert.equal(api.status, 401);
  assert.equal(
    api.headers.get('www-authenticate'),
    'Bearer realm="shop", error="insufficient_user_authentication", error_description="this needs a sign-in within the last 5 min", max_age="300"',
  );
  assert.deepEqual(await api.json(), {
    error: 'insufficient_user_authentication',
    reason: 'this needs a sign-in within the last 5 min',
  });
  const recent = await signedInAgo(4 * 60_000);
  assert.equal((await recent.request(gw.url('shop.localhost', '/billing/x'))).status, 200, 'within 5 min');
});
