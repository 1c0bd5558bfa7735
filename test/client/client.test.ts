// signonce/client in Node against a running SignOnce with a real provider (oidc-provider, refresh
// tokens): sign in, call the app as the user, renew once for many callers, events, apps of one
// access group sharing a sign-in, logout; and the encrypted file cache's refusals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetch as undiciFetch } from 'undici';
import { MemoryCache, SignOnceClient, SignOnceError } from '../../src/client/index.ts';
import { EncryptedFileCache, envKeySource, fileKeySource } from '../../src/client/node.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { startGatewayWithIdp, type Echo, type TestGateway } from '../support/gateway.ts';
import type { TestIdp } from '../support/idp.ts';
import { oidcSignIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { loopback } from '../support/user-agent.ts';

/** Node's fetch, with *.localhost on loopback. */
export const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;
const LIFETIME_S = 6;
const REFRESH_BEFORE_S = 4;

describe('signonce/client', () => {
  let idp: TestIdp;
  let gw: TestGateway;

  before(async () => {
    ({ gw, idp } = await startGatewayWithIdp((port, upstream, idp) => ({
      publicUrl: `http://auth.localhost:${port}`,
      session: { lifetime: `${LIFETIME_S}s` },
      providers: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'profile', 'offline_access'],
          authorizationParams: { prompt: 'consent' },
        },
      ],
      apps: ['mail', 'calendar', 'other'].map((id) => ({
        id,
        hosts: [`${id}.localhost:${port}`],
        upstream,
        defaultProvider: 'idp',
        allowedExternalRedirectUrls: ['suiteapp://cb'],
        acceptTokensFrom: id === 'other' ? [] : ['mail', 'calendar'].filter((a) => a !== id),
      })),
    })));
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  const clientFor = (app: string, cache = new MemoryCache(), group = 'suite') =>
    new SignOnceClient({
      url: gw.url(`${app}.localhost`, ''),
      app,
      cache,
      group,
      refreshBeforeSeconds: REFRESH_BEFORE_S,
      fetch: fetchLocal,
    });
  /** The redirect sign-in as a native app sees it: the URL it is handed back with #token=. */
  const handedBack = async (app: string, user: string) =>
    (
      await oidcSignIn(gw.url(`${app}.localhost`, '/.auth/login/idp?post_login_redirect_uri=suiteapp://cb'), user)
    ).landed.headers.get('location')!;
  const refreshCalls = () => gw.requestsTo('/.auth/refresh');

  test('sign in, call the app as the user, one renewal for 20 callers before expiry, events, logout', async () => {
    const client = clientFor('mail');
    const events: string[] = [];
    for (const type of ['signin', 'signout', 'refresh', 'refreshfailure'])
      client.addEventListener(type, () => events.push(type));
    const user = await client.handleRedirectCallback(await handedBack('mail', 'ada'));
    assert.match(user.userId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await client.user(), user);
    const answer = await client.fetch(gw.url('mail.localhost', '/inbox'));
    assert.equal(((await answer.json()) as Echo).headers['x-ms-client-principal-name'], 'ada@example.com');

    const first = await client.getAuthenticationToken();
    await sleep((LIFETIME_S - REFRESH_BEFORE_S) * 1000 + 300);
    const calls = refreshCalls();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => client.getAuthenticationToken()));
    assert.equal(refreshCalls() - calls, 1, 'one /.auth/refresh for 20 callers');
    assert.equal(new Set(tokens).size, 1);
    assert.notEqual(tokens[0], first, 'a renewed token');
    assert.equal((await client.fetch(gw.url('mail.localhost', '/'))).status, 200);
    assert.equal(((await client.me()) as Array<{ user_id: string }>)[0]?.user_id, 'ada@example.com');

    await client.logout();
    assert.equal(await client.user(), undefined);
    await assert.rejects(
      client.getAuthenticationToken(),
      (e: unknown) => e instanceof SignOnceError && e.code === 'not-signed-in',
    );
    assert.equal(
      (await fetchLocal(gw.url('mail.localhost', '/.auth/me'), { headers: { 'x-zumo-auth': tokens[0]! } })).status,
      401,
      'signed out at SignOnce too',
    );
    assert.deepEqual(events, ['signin', 'refresh', 'signout']);
  });

  test('an access group: a second app is signed in without a prompt; a renewal by one serves the other; logout by one signs out all', async () => {
    const cache = new MemoryCache();
    const mail = clientFor('mail', cache);
    const calendar = clientFor('calendar', cache);
    await mail.handleRedirectCallback(await handedBack('mail', 'bert'));
    const answer = await calendar.fetch(gw.url('calendar.localhost', '/today'));
    assert.equal(answer.status, 200, "no sign-in for the calendar: the group's was exchanged");
    assert.equal(((await answer.json()) as Echo).headers['x-ms-client-principal-name'], 'bert@example.com');
    assert.deepEqual(await calendar.user(), await mail.user());

    await sleep((LIFETIME_S - REFRESH_BEFORE_S) * 1000 + 300);
    const calls = refreshCalls();
    await mail.getAuthenticationToken();
    await calendar.getAuthenticationToken();
    assert.equal(
      refreshCalls() - calls,
      1,
      "the calendar took the mail app's renewal (an exchange), no second refresh",
    );

    const other = clientFor('other', cache);
    await assert.rejects(
      other.getAuthenticationToken(),
      (e: unknown) => e instanceof SignOnceError && e.code === 'not-signed-in',
      "an app that does not accept the group's tokens",
    );
    await calendar.logout();
    await assert.rejects(mail.getAuthenticationToken(), SignOnceError);
  });

  test('EncryptedFileCache: a file for another group, sealed under another key, or tampered is treated as empty, with a warning', async () => {
    const { dir, remove } = await tempDir();
    try {
      const file = join(dir, 'suite.cache');
      const warnings: string[] = [];
      const key = fileKeySource(join(dir, 'suite.key'));
      const cache = (group: string, source = key) =>
        new EncryptedFileCache({ file, group, key: source, onWarning: (w) => warnings.push(w) });
      await cache('suite').set('group:suite', 'value');
      assert.equal(await cache('suite').get('group:suite'), 'value');
      assert.equal(await cache('other-suite').get('group:suite'), undefined);
      assert.match(warnings.pop() ?? '', /written for the access group "suite"/);
      process.env.SIGNONCE_TEST_OTHER_KEY = generateKey();
      assert.equal(await cache('suite', envKeySource('SIGNONCE_TEST_OTHER_KEY')).get('group:suite'), undefined);
      assert.match(warnings.pop() ?? '', /tampered with or sealed under another key/);
      const { readFile, writeFile } = await import('node:fs/promises');
      const sealed = JSON.parse(await readFile(file, 'utf8')) as { data: string };
      await writeFile(file, JSON.stringify({ ...sealed, data: `${sealed.data.slice(0, -2)}AA` }));
      assert.equal(await cache('suite').get('group:suite'), undefined);
      assert.match(warnings.pop() ?? '', /tampered/);
      assert.ok(!(await readFile(file, 'utf8')).includes('value'), 'sealed at rest');
      await assert.rejects(
        cache('suite', envKeySource('SIGNONCE_TEST_NO_SUCH_KEY')).get('group:suite'),
        /SIGNONCE_TEST_NO_SUCH_KEY is not set/,
      );
    } finally {
      await remove();
    }
  });
});
