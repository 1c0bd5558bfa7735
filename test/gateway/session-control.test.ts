// Session control (issue 21): every session records the device it was signed in on, "last seen"
// is kept with at most one store write per session per minute per instance, and
// session.idleTimeout ends a session unused for longer. Real gateway, real SQLite store; the
// process clock is moved with node:test's mock timers (Date only: every timer stays real).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { devSignIn } from '../support/sign-in.ts';
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
