// The audit log as the gateway writes it (README, "Audit log"), end to end with a real OpenID
// provider and local accounts: each sign-in, failure, refusal, link, unlink, refresh failure and
// sign-out is one event, with the client's address, User-Agent and request id, and never a secret.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startGatewayHarness, type TestGateway } from '../support/gateway.ts';
import { oidcSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';

const PASSWORD = 'a long and unusual passphrase';
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AuditTest/1.0';

describe('audit events of the gateway', () => {
  let gw: TestGateway;
  let store: Store;
  const url = (name: string, path = '/') => gw.url(`${name}.localhost`, path);
  /** Events appended since `from` (an id), oldest first. */
  const eventsSince = async (from: number) =>
    (await store.listAudit({ limit: 1000 })).filter((e) => e.id > from).reverse();
  const lastId = async () => (await store.listAudit({ limit: 1 }))[0]?.id ?? 0;
  const browser = () => new UserAgent({ 'user-agent': BROWSER });

  before(async () => {
    gw = await startGatewayHarness(
      ({ port, upstream, idps }) => {
        const idp = (id: string) => ({
          id,
          type: 'oidc',
          issuer: idps[0]!.issuer,
          clientId: idps[0]!.clientId,
          clientSecret: idps[0]!.clientSecret,
          scopes: ['openid', 'email', 'profile', 'offline_access'],
          authorizationParams: { prompt: 'consent' },
        });
        const app = (id: string, extra: object) => ({ id, hosts: [`${id}.localhost:${port}`], upstream, ...extra });
        return {
          publicUrl: `http://auth.localhost:${port}`,
          providers: [idp('idp'), idp('idp2'), { id: 'local', type: 'password', allowRegistration: true }],
          apps: [
            app('app', { defaultProvider: 'idp', tokenStore: true }),
            app('wiki', { defaultProvider: 'local', access: [{ allow: { providers: ['idp'] } }] }),
          ],
        };
      },
      { idps: [{ providerIds: ['idp', 'idp2'] }] },
    );
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  });
  after(async () => {
    await store?.close();
    await gw?.close();
  });

  /** Signs in at the wiki with a local password; the answer. */
  const passwordSignIn = async (ua: UserAgent, username: string, password: string, register = false, app = 'app') => {
    let form = await ua.navigate(url(app, '/.auth/login/local?post_login_redirect_uri=/home'));
    if (register)
      form = await ua.navigate(
        new URL(/href="([^"]*register[^"]*)"/.exec(await form.text())![1]!.replaceAll('&#38;', '&'), finalUrl(form)),
      );
    return ua.submitForm(finalUrl(form), await form.text(), {
      username,
      password,
      ...(register ? { confirm: password } : {}),
    });
  };

  test('local accounts: registration, failures (the account when the username is known, never the name typed or the password), throttling, a disabled account', async () => {
    const from = await lastId();
    const dana = browser();
    assert.equal((await passwordSignIn(dana, 'dana', PASSWORD, true)).status, 200);
    const { accountId } = (await store.getPasswordCredential('local', 'dana'))!;
    assert.equal((await passwordSignIn(browser(), 'dana', 'not the passphrase')).status, 401);
    assert.equal((await passwordSignIn(browser(), 'nobody-typed-this', PASSWORD)).status, 401);
    for (let i = 0; i < 5; i++) await passwordSignIn(browser(), 'dana', `wrong guess ${i} of many`);
    assert.equal((await passwordSignIn(browser(), 'dana', PASSWORD)).status, 429);
    const events = await eventsSince(from);
    const signIns = events.filter((e) => e.kind === 'sign-in');
    assert.deepEqual(
      signIns.slice(0, 3).map((e) => [e.outcome, e.accountId, e.actor, e.app, e.detail]),
      [
        ['success', accountId, accountId, 'app', { provider: 'local', method: 'registration' }],
        ['failed', accountId, undefined, 'app', { provider: 'local', method: 'password', reason: 'wrong password' }],
        ['failed', undefined, undefined, 'app', { provider: 'local', method: 'password', reason: 'unknown username' }],
      ],
    );
    assert.equal(signIns.at(-1)!.outcome, 'throttled');
    for (const event of signIns) {
      assert.equal(event.address, '127.0.0.1');
      assert.equal(event.userAgent, BROWSER);
      assert.match(event.requestId ?? '', /^[0-9a-f-]{36}$/);
    }
    const text = JSON.stringify(events);
    assert.doesNotMatch(text, /passphrase|wrong guess|nobody-typed-this/, 'no password, no username typed');

    // Disabled: the right password meets the refusal, audited once with the account.
    await store.setAccountDisabled(accountId, Date.now());
    const before = await lastId();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the throttle's wait
    assert.equal((await passwordSignIn(browser(), 'dana', PASSWORD)).status, 401);
    const refused = (await eventsSince(before)).filter((e) => e.kind === 'sign-in');
    assert.deepEqual(
      refused.map((e) => [e.outcome, e.accountId, (e.detail as { reason: string }).reason]),
      [['refused', accountId, 'the account is disabled']],
    );
  });

  test('a provider sign-in, a refusal by access rules (once a minute, however often), link, unlink, refresh failure, sign-out: each one event', async () => {
    const from = await lastId();
    const { ua, landed } = await oidcSignIn(url('app'), 'erin', browser());
    assert.equal(landed.status, 200);
    const accountId = (await store.findIdentity('idp', 'erin'))!.accountId;

    // A local user at the wiki (only idp users may enter): 5 refusals, one event.
    const local = browser();
    assert.equal((await passwordSignIn(local, 'fred', PASSWORD, true, 'wiki')).status, 403);
    for (let i = 0; i < 4; i++) assert.equal((await local.request(url('wiki', `/page/${i}`))).status, 403);

    // Link idp2 (the same provider's login, another id), then unlink it.
    // The provider's session knows erin: its consent page only (the same provider under a second id).
    const consent = await ua.navigate(url('app', '/.auth/link/idp2?post_login_redirect_uri=/linked'));
    const linked = await ua.submitForm(finalUrl(consent), await consent.text());
    assert.equal(finalUrl(linked), url('app', '/linked'));
    const unlinked = await ua.request(url('app', '/.auth/unlink/idp2'), {
      method: 'POST',
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(unlinked.status, 200);

    // The provider revokes the grant: the refresh fails.
    const tokens = (await store.getTokens({ accountId, provider: 'idp', resource: '' }))!.tokens;
    await gw.idps[0]!.revoke(tokens.refreshToken!);
    assert.equal((await ua.request(url('app', '/.auth/refresh'))).status, 403);
    assert.equal((await ua.request(url('app', '/.auth/logout'))).status, 302);

    const events = await eventsSince(from);
    const fred = (await store.getPasswordCredential('local', 'fred'))!.accountId;
    assert.deepEqual(
      events.map((e) => [
        e.kind,
        e.outcome,
        e.accountId === accountId ? 'erin' : e.accountId === fred ? 'fred' : e.accountId,
        e.app,
      ]),
      [
        ['sign-in', 'success', 'erin', 'app'],
        ['sign-in', 'success', 'fred', 'wiki'],
        ['access-refused', 'refused', 'fred', 'wiki'],
        ['link', 'success', 'erin', 'app'],
        ['unlink', 'success', 'erin', 'app'],
        ['refresh-failed', 'refused', 'erin', undefined],
        ['sign-out', 'success', 'erin', 'app'],
      ],
    );
    const byKind = new Map(events.map((e) => [e.kind, e]));
    assert.deepEqual(byKind.get('access-refused')!.detail, {
      provider: 'local',
      reason: 'no access rule lets this user in',
    });
    assert.deepEqual(byKind.get('unlink')!.detail, { provider: 'idp2', sessionsEnded: 0 });
    assert.equal((byKind.get('refresh-failed')!.detail as { provider: string }).provider, 'idp');
    assert.equal(byKind.get('refresh-failed')!.actor, 'system');
    for (const event of events.filter((e) => e.kind !== 'refresh-failed')) {
      assert.equal(event.userAgent, BROWSER, event.kind);
      assert.equal(event.address, '127.0.0.1', event.kind);
    }
    const text = JSON.stringify(events);
    for (const secret of [tokens.refreshToken, tokens.accessToken, tokens.idToken, ...cookieValues(ua)])
      assert.ok(secret && !text.includes(secret), 'no token and no cookie value in any event');
  });
});

/** Every secret-sized cookie value a browser holds (SignOnce's and the provider's; not the echo app's `app=1`). */
const cookieValues = (ua: UserAgent) =>
  [...ua.jar.values()].flatMap((cookies) => [...cookies.values()].map((c) => c.value)).filter((v) => v.length >= 16);
