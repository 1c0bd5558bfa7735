import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestGateway } from '../support/gateway.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore } from '../../src/store/index.ts';

test('a session ends at session.lifetime: the same cookie is then unauthenticated, not an error', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    session: { lifetime: '1s' },
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
  }));
  after(() => gw.close());
  const ua = new UserAgent();
  const form = await ua.navigate(gw.url('app.localhost', '/'));
  await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'heidi@example.com' });
  assert.equal((await ua.request(gw.url('app.localhost', '/.auth/me'))).status, 200);
  await sleep(1100);
  assert.equal((await ua.request(gw.url('app.localhost', '/.auth/me'))).status, 401);
  const page = await ua.request(gw.url('app.localhost', '/'));
  assert.equal(page.status, 302, 'sent to sign in again');
});

test('a session revoked by another instance ends here after session.cacheTtl; with 0, at once', async () => {
  for (const cacheTtl of ['300ms', 0]) {
    const gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      session: { cacheTtl },
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
    }));
    try {
      const ua = new UserAgent();
      const form = await ua.navigate(gw.url('app.localhost', '/'));
      await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'ivan@example.com' });
      assert.equal((await ua.request(gw.url('app.localhost', '/.auth/me'))).status, 200);
      // Another instance on the same store signs the user out everywhere.
      const other = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
      const { account } = await other.resolveIdentity('dev', 'ivan@example.com');
      assert.equal(await other.revokeAccountSessions(account.id), 1);
      await other.close();
      await sleep(gw.config.session.cacheTtl);
      assert.equal((await ua.request(gw.url('app.localhost', '/.auth/me'))).status, 401, `cacheTtl ${cacheTtl}`);
      assert.equal((await ua.request(gw.url('app.localhost', '/'))).status, 302, 'sent to sign in again');
    } finally {
      await gw.close();
    }
  }
});

test("signing out removes the user's provider tokens, as Easy Auth does; tokenStore.keepOnLogout keeps them", async () => {
  for (const keepOnLogout of [false, true]) {
    const gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      tokenStore: { keepOnLogout },
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev', tokenStore: true }],
    }));
    const other = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
    try {
      const ua = new UserAgent();
      const form = await ua.navigate(gw.url('app.localhost', '/'));
      await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'judy@example.com' });
      const { account } = await other.resolveIdentity('dev', 'judy@example.com');
      await other.putTokens(
        { accountId: account.id, provider: 'dev', resource: '' },
        { accessToken: 'provider-access-token' },
      );
      assert.equal((await ua.request(gw.url('app.localhost', '/.auth/logout'))).status, 302);
      assert.equal((await other.listTokens(account.id)).length, keepOnLogout ? 1 : 0, `keepOnLogout: ${keepOnLogout}`);
    } finally {
      await other.close();
      await gw.close();
    }
  }
});
