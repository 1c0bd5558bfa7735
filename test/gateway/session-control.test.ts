// Session control (issue 21): every session records the device it was signed in on, "last seen"
// is kept with at most one store write per session per minute per instance, and
// session.idleTimeout ends a session unused for longer. Real gateway, real SQLite store; the
// process clock is moved with node:test's mock timers (Date only: every timer stays real).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { devSignIn, nativeDevSignIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

function gatewayWith(extra: Record<string, unknown>): Promise<TestGateway> {
  return startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
    ...extra,
  }));
}

/** The sessions of the dev user `user`, as the store keeps them. */
async function sessionsOf(gw: TestGateway, user: string) {
  const store = await gw.store();
  const identity = await store.findIdentity('dev', user);
  return identity ? store.listAccountSessions(identity.accountId) : [];
}

test("a sign-in records the browser's User-Agent and address; X-Forwarded-For only from trustedProxies", async () => {
  for (const trustedProxies of [[], ['127.0.0.1']]) {
    const gw = await gatewayWith({ trustedProxies });
    after(() => gw.close());
    const browser = new UserAgent({ 'user-agent': FIREFOX, 'x-forwarded-for': '198.51.100.7' });
    await devSignIn(gw.url('app.localhost', '/'), 'dora@example.com', browser);
    const [session, ...others] = await sessionsOf(gw, 'dora@example.com');
    assert.equal(others.length, 0);
    assert.equal(session?.userAgent, FIREFOX);
    assert.equal(
      session?.address,
      trustedProxies.length ? '198.51.100.7' : '127.0.0.1',
      `trustedProxies: ${JSON.stringify(trustedProxies)}`,
    );
  }
});

test('session.idleTimeout: sessions in use stay, idle ones are signed out (cookie and token) and revoked; last uses reach the store at most once a minute', async (t) => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    // The longest cache there is: a cached answer must not keep an idle session alive.
    session: { idleTimeout: '5m', cacheTtl: '60s' },
    apps: [
      {
        id: 'app',
        hosts: [`app.localhost:${port}`],
        upstream,
        defaultProvider: 'dev',
        allowedExternalRedirectUrls: ['myapp://done'],
      },
    ],
  }));
  after(() => gw.close());
  const app = (path: string) => gw.url('app.localhost', path);
  const { ua: browser } = await devSignIn(app('/'), 'ida@example.com', new UserAgent({ 'user-agent': FIREFOX }));
  const { authenticationToken } = await nativeDevSignIn(app(''), 'myapp://done', { user_id: 'tom@example.com' });
  const [cookieSession] = await sessionsOf(gw, 'ida@example.com');
  const [tokenSession] = await sessionsOf(gw, 'tom@example.com');
  const byCookie = (path = '/') => browser.request(app(path));
  const byToken = () => new UserAgent({ 'x-zumo-auth': authenticationToken }).request(app('/.auth/me'));
  /** The session's row as the store holds it (after the background write a request may have started). */
  const row = async (ref: string) => {
    await sleep(50);
    const db = new DatabaseSync(gw.databaseFile);
    try {
      return db.prepare('SELECT last_seen_at FROM sessions WHERE id_hash = ?').get(ref);
    } finally {
      db.close();
    }
  };

  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const start = Date.now();
  assert.ok(start - cookieSession!.createdAt < 10_000);
  // Both used every 50 s for 7 minutes, longer than the timeout: the cookie's last use is written
  // at its second use, then every other one (a minute since the last write), never more often.
  const written = new Set<number>();
  for (let i = 1; i <= 8; i++) {
    t.mock.timers.tick(50_000);
    assert.equal((await byCookie()).status, 200, `cookie at use ${i}`);
    assert.equal((await byToken()).status, 200, `token at use ${i}`);
    written.add(Number((await row(cookieSession!.ref))!.last_seen_at));
  }
  assert.deepEqual(
    [...written],
    [cookieSession!.createdAt, start + 100_000, start + 200_000, start + 300_000, start + 400_000],
  );

  // The browser goes away for longer than the timeout; the native app keeps using its token.
  for (let i = 1; i <= 7; i++) {
    t.mock.timers.tick(50_000);
    assert.equal((await byToken()).status, 200, `token at use ${8 + i}`);
  }
  const idleCookie = await byCookie();
  assert.equal(idleCookie.status, 302, 'sent to sign in again, as an expired session is');
  assert.match(idleCookie.headers.get('location')!, /\/\.auth\/login/);
  assert.equal((await byCookie('/.auth/me')).status, 401);
  assert.equal(await row(cookieSession!.ref), undefined, 'the idle session is revoked');

  t.mock.timers.tick(5 * 60_000 + 1);
  const idleToken = await byToken();
  assert.equal(idleToken.status, 401, 'the token of an idle session is refused');
  assert.equal(await row(tokenSession!.ref), undefined);
});
