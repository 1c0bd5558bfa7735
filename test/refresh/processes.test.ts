// Exactly-once refresh across real `signonce serve` processes on one PostgreSQL, and what happens
// when the process holding the refresh lock is killed (SIGKILL) while its call to the provider is
// in flight: the others take over at once, re-read the stored tokens, and refresh with the stored
// refresh token, which still works; nothing half-written is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';
import { startEcho } from '../support/gateway.ts';
import { startOidcProvider, type TestIdp } from '../support/idp.ts';
import { freePort } from '../support/ports.ts';
import { admin, createSchema, postgresSkipReason } from '../support/postgres.ts';
import { oidcSignIn } from '../support/sign-in.ts';
import { startInstances } from '../support/instances.ts';
import { UserAgent } from '../support/user-agent.ts';

test('three serve processes on one PostgreSQL: the lock holder is killed mid-refresh, another completes the refresh', {
  skip: postgresSkipReason,
}, async (t) => {
  const sql = admin();
  const { schema, url } = await createSchema(sql);
  const echo = await startEcho();
  const ports = [await freePort(), await freePort(), await freePort()];
  const appHost = `app.localhost:${ports[0]}`;
  // The provider holds the first refresh-grant request it gets until the test lets it go.
  let holdNext = false;
  let announceHeld = () => {};
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    announceHeld = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const beforeRefreshGrant = async () => {
    if (!holdNext) return;
    holdNext = false;
    announceHeld();
    await released;
  };
  const idp0 = await startOidcProvider([]);
  await idp0.close();
  const idp: TestIdp = await startOidcProvider([`http://auth.localhost:${ports[0]}/.auth/login/idp/callback`], idp0, {
    beforeRefreshGrant,
  });
  const key = generateKey();
  const instances = await startInstances(ports, {
    publicUrl: `http://auth.localhost:${ports[0]}`,
    store: url,
    secrets: { encryptionKeys: [key] },
    providers: [
      {
        id: 'idp',
        type: 'oidc',
        issuer: idp.issuer,
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        scopes: ['openid', 'email', 'offline_access'],
        authorizationParams: { prompt: 'consent' },
      },
    ],
    apps: [{ id: 'app', hosts: [appHost], upstream: echo.url, defaultProvider: 'idp', tokenStore: true }],
  });
  t.after(async () => {
    release();
    await instances.close();
    await idp.close();
    await new Promise((resolve) => echo.server.close(resolve));
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
  });

  const { ua, landed } = await oidcSignIn(`http://${appHost}/`, 'mallory');
  assert.equal(landed.status, 200);
  const cookie = ua.cookieHeader(new URL(`http://${appHost}/`))!;
  const refreshAt = (i: number) =>
    new UserAgent().request(`http://127.0.0.1:${ports[i]}/.auth/refresh`, { headers: { host: appHost, cookie } });

  // Process 0 takes the lock and calls the provider, which holds the call.
  holdNext = true;
  const grants = idp.refreshGrants;
  const holder = refreshAt(0).catch((error: unknown) => error);
  await held;
  // Processes 1 and 2 wait for the lock: none of them answers while the holder lives.
  const answered: number[] = [];
  const waiting = Array.from({ length: 10 }, (_, i) =>
    refreshAt(1 + (i % 2)).then((answer) => {
      answered.push(Date.now());
      return answer;
    }),
  );
  await sleep(700);
  assert.equal(answered.length, 0, 'the others wait while the holder lives, however long its provider takes');

  const killedAt = Date.now();
  await instances.kill(0);
  const answers = await Promise.all(waiting);
  release();
  assert.ok((await holder) instanceof Error, 'the killed process never answered');
  assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
  const takeover = Math.max(...answered) - killedAt;
  t.diagnostic(`all 10 waiting refreshes answered ${takeover} ms after the SIGKILL`);
  assert.ok(takeover < 10_000, `the lock went with the killed process (${takeover} ms)`);
  assert.equal(idp.refreshGrants - grants, 1, 'one refresh grant, by one of the survivors');

  // The refresh token stored now is the live one: the provider accepts it (nothing was lost or reused).
  const store = await openStore(url, { keyring: new Keyring([key]) });
  try {
    const { account } = await store.resolveIdentity('idp', 'mallory');
    const stored = await store.getTokens({ accountId: account.id, provider: 'idp', resource: '' });
    const check = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: stored!.tokens.refreshToken!,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
      }),
    });
    assert.equal(check.status, 200, await check.text());
  } finally {
    await store.close();
  }
});
