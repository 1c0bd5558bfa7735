// The admin console under attack: a user who is no admin on its pages and actions, another site
// posting an admin's forms with the admin's cookie, an admin whose sign-in is older than
// admin.freshSignIn, a hostile return path; and the console when admin.access lists no rules.
// Each row checks the answer and that the victim account is as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Passkeys } from '../../src/accounts/passkeys.ts';
import { SecondFactors } from '../../src/accounts/second-factor.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { ownCookie, SSO_COOKIE } from '../../src/gateway/endpoints/login-binding.ts';
import { adminReturnPath } from '../../src/gateway/endpoints/admin.ts';
import { sealSessionCookie } from '../../src/session/cookies.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { authenticatorCode } from '../support/pages.ts';
import { devSignIn } from '../support/sign-in.ts';
import { SoftwareAuthenticator } from '../support/webauthn.ts';
import { UserAgent } from '../support/user-agent.ts';
import { named, type Row } from './support.ts';

test('adminReturnPath: only paths of the console; anything else is the dashboard', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, '/.auth/admin'],
    ['/.auth/admin', '/.auth/admin'],
    ['/.auth/admin/users?q=ann', '/.auth/admin/users?q=ann'],
    ['/.auth/admin/audit?kind=sign-in&before=10', '/.auth/admin/audit?kind=sign-in&before=10'],
    ['https://evil.example/.auth/admin', '/.auth/admin'],
    ['//evil.example/.auth/admin', '/.auth/admin'],
    ['/\\evil.example', '/.auth/admin'],
    ['/.auth/adminx', '/.auth/admin'],
    ['/.auth/admin/../account/delete', '/.auth/admin'],
    ['/.auth/admin/%2e%2e/account', '/.auth/admin'],
    ['/.auth/admin/users/%2E%2E/%2e%2E/account', '/.auth/admin'],
    ['/.auth/admin/./users', '/.auth/admin/users'],
    ['/.auth/account', '/.auth/admin'],
    ['/', '/.auth/admin'],
    ['', '/.auth/admin'],
    ['javascript:alert(1)', '/.auth/admin'],
    ['/.auth/admin\r\nSet-Cookie: x=1', '/.auth/admin'],
  ];
  for (const [to, expected] of cases) assert.equal(adminReturnPath(to), expected, JSON.stringify(to));
});

interface AdminRow extends Row {
  /** The attack, given browsers signed in as the admin and as a user who is none; the status answered. */
  readonly play: (attack: Attack) => Promise<number>;
  readonly status: number;
}

interface Attack {
  readonly gw: TestGateway;
  readonly admin: UserAgent;
  readonly user: UserAgent;
  /** An admin browser whose sign-in is 11 minutes old (admin.freshSignIn: 10m). */
  readonly staleAdmin: UserAgent;
  readonly victim: string;
  readonly adminId: string;
}

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' };
const post = (ua: UserAgent, gw: TestGateway, path: string, headers: Record<string, string>, form = {}) =>
  ua
    .request(gw.url('auth.localhost', `/.auth/admin${path}`), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    })
    .then((r) => r.status);

const rows: AdminRow[] = [
  {
    attack: 'control: the admin disables the victim from the console',
    reference: 'admin console',
    status: 303,
    play: ({ gw, admin, victim }) => post(admin, gw, `/users/${victim}/disable`, SAME_ORIGIN),
  },
  {
    attack: "a user who is no admin opens a user's page",
    reference: 'OWASP ASVS 4.1.1, 4.1.3; CWE-285',
    status: 403,
    play: async ({ gw, user, victim }) =>
      (await user.request(gw.url('auth.localhost', `/.auth/admin/users/${victim}`))).status,
  },
  {
    attack: 'a user who is no admin posts the disable form',
    reference: 'OWASP ASVS 4.1.1; CWE-285',
    status: 403,
    play: ({ gw, user, victim }) => post(user, gw, `/users/${victim}/disable`, SAME_ORIGIN),
  },
  {
    attack: "another site posts the disable form with the admin's cookie",
    reference: 'OWASP ASVS 4.2.2; CWE-352',
    status: 403,
    play: ({ gw, admin, victim }) =>
      post(admin, gw, `/users/${victim}/disable`, { 'sec-fetch-site': 'cross-site', origin: 'http://evil.localhost' }),
  },
  {
    attack: "an app's page (same site, another origin) posts the delete form with the admin's cookie",
    reference: 'OWASP ASVS 4.2.2; CWE-352',
    status: 403,
    play: ({ gw, admin, victim }) =>
      post(admin, gw, `/users/${victim}/delete`, { 'sec-fetch-site': 'same-site' }, { confirmation: victim }),
  },
  {
    attack: 'an admin whose sign-in is older than admin.freshSignIn posts the delete form',
    reference: 'OWASP ASVS 4.3.3 (re-authentication for sensitive functions); NIST 800-63B 7.2',
    status: 401,
    play: ({ gw, staleAdmin, victim }) =>
      post(staleAdmin, gw, `/users/${victim}/delete`, SAME_ORIGIN, { confirmation: victim }),
  },
  {
    attack: 'the delete form without the account id typed',
    reference: 'admin console (a deliberate act)',
    status: 400,
    play: ({ gw, admin, victim }) => post(admin, gw, `/users/${victim}/delete`, SAME_ORIGIN, { confirmation: 'yes' }),
  },
  {
    attack: 'a browser without a session posts the disable form',
    reference: 'OWASP ASVS 4.1.1',
    status: 401,
    play: ({ gw, victim }) => post(new UserAgent(), gw, `/users/${victim}/disable`, SAME_ORIGIN),
  },
];

describe('admin console attacks', () => {
  let gw: TestGateway;
  let store: Store;
  before(async () => {
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [{ id: 'dev', type: 'dev' }],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
      admin: { access: [{ allow: { groups: ['admins'] } }], freshSignIn: '10m' },
    }));
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  });
  after(async () => {
    await store?.close();
    await gw?.close();
  });

  /** A browser signed in to the console's sign-in as `user` (dev provider); the account id. */
  async function signedIn(user: string): Promise<{ ua: UserAgent; accountId: string }> {
    const ua = new UserAgent();
    const { landed } = await devSignIn(gw.url('auth.localhost', '/.auth/admin/login/dev'), user, ua);
    assert.ok([200, 403].includes(landed.status), String(landed.status));
    return { ua, accountId: (await store.findIdentity('dev', user))!.accountId };
  }

  /** A browser holding the console's session of `accountId`, signed in `ageMs` ago. */
  async function signedInAgo(accountId: string, user: string, ageMs: number): Promise<UserAgent> {
    const past = await openStore(gw.config.store, {
      keyring: new Keyring(gw.config.secrets.encryptionKeys),
      now: () => Date.now() - ageMs,
    });
    const { secret } = await past.createSession({
      accountId,
      lifetimeMs: 8 * 3_600_000,
      data: { user: { provider: 'dev', subject: user, name: user, claims: [] }, app: '.admin' },
    });
    await past.close();
    const cookie = sealSessionCookie(
      new Keyring(gw.config.secrets.encryptionKeys),
      secret,
      `auth.localhost:${gw.port}`,
    );
    return new UserAgent({ cookie: `${ownCookie(SSO_COOKIE, false).name}=${cookie}` });
  }

  for (const [i, row] of rows.entries()) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const { accountId: adminId } = await signedIn(`admin-${i}@example.com`);
      await store.addGroupMembers('admins', [adminId]);
      const admin = (await signedIn(`admin-${i}@example.com`)).ua;
      const { ua: user } = await signedIn(`user-${i}@example.com`);
      const { accountId: victim } = await signedIn(`victim-${i}@example.com`);
      const staleAdmin = await signedInAgo(adminId, `admin-${i}@example.com`, 11 * 60_000);
      const status = await row.play({ gw, admin, user, staleAdmin, victim, adminId });
      assert.equal(status, row.status);
      const account = await store.getAccount(victim);
      assert.ok(account, 'the victim account stands');
      assert.equal(account.disabledAt !== undefined, row.status === 303, 'disabled only by the admin');
      const [event] = await store.listAudit({ limit: 1, accountId: victim, kinds: ['account-disabled'] });
      assert.equal(event?.actor, row.status === 303 ? adminId : undefined, 'audited with the admin as actor');
    });
  }

  test('a stale sign-in reading a page is sent to sign in anew at its provider (prompt=login), back to the page', async () => {
    const { accountId } = await signedIn('fresh@example.com');
    await store.addGroupMembers('admins', [accountId]);
    const stale = await signedInAgo(accountId, 'fresh@example.com', 11 * 60_000);
    const answer = await stale.request(gw.url('auth.localhost', '/.auth/admin/audit?kind=sign-in'));
    assert.equal(answer.status, 302);
    assert.equal(
      answer.headers.get('location'),
      `/.auth/admin/login/dev?fresh=1&to=${encodeURIComponent('/.auth/admin/audit?kind=sign-in')}`,
    );
    const recent = await signedInAgo(accountId, 'fresh@example.com', 9 * 60_000);
    assert.equal((await recent.request(gw.url('auth.localhost', '/.auth/admin/audit'))).status, 200, 'within 10m');
  });

  test('a page of the audit log stays under 50 KB with large events (4 KB details, the longest addresses and app ids)', async () => {
    const { accountId } = await signedIn('big@example.com');
    await store.addGroupMembers('admins', [accountId]);
    const { ua } = await signedIn('big@example.com');
    for (let i = 0; i < 60; i++)
      await store.appendAudit({
        kind: 'access-refused',
        outcome: 'refused',
        accountId,
        actor: accountId,
        app: 'a'.repeat(64),
        address: 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255',
        userAgent: 'u'.repeat(512),
        requestId: 'r'.repeat(128),
        detail: { reason: '<&>'.repeat(1300) },
      });
    for (const path of ['/audit', `/users/${accountId}`]) {
      const answer = await ua.request(gw.url('auth.localhost', `/.auth/admin${path}`));
      const size = Buffer.byteLength(await answer.text());
      assert.ok(size < 50_000, `${path}: ${size} bytes`);
    }
  });

  test("an admin resets a user's second factors and passkeys (a lost phone): gone, audited with the admin as actor; a non-admin cannot", async () => {
    const { accountId: adminId, ua: admin } = await (async () => {
      const first = await signedIn('resetter@example.com');
      await store.addGroupMembers('admins', [first.accountId]);
      return signedIn('resetter@example.com');
    })();
    const { accountId: victim } = await signedIn('lost-phone@example.com');
    const { ua: user } = await signedIn('bystander@example.com');
    const factors = new SecondFactors(store, { issuer: 'test' });
    const { secret, uri } = factors.beginTotp(victim, 'lost-phone');
    assert.ok((await factors.confirmTotp(victim, secret, authenticatorCode(uri))).ok);
    // And a passkey (SignOnce's relying party: the auth host, as the gateway's Passkeys are made).
    const publicUrl = new URL(gw.config.publicUrl);
    const rp = { rpId: publicUrl.hostname, rpName: publicUrl.host, origin: publicUrl.origin };
    const passkeys = new Passkeys(store, rp);
    const options = await passkeys.registrationOptions(victim, 'lost-phone');
    const registered = await passkeys.verifyRegistration(
      victim,
      'Phone',
      new SoftwareAuthenticator(rp).register(options),
      options.challenge,
    );
    assert.ok(registered.ok);
    assert.equal(await post(user, gw, `/users/${victim}/second-factors/reset`, SAME_ORIGIN), 403);
    assert.equal((await factors.status(victim)).totp, true, 'not by a user who is no admin');
    assert.equal(await post(admin, gw, `/users/${victim}/second-factors/reset`, SAME_ORIGIN), 303);
    assert.deepEqual(await factors.status(victim), { totp: false, recoveryCodesLeft: 0 });
    assert.deepEqual(await passkeys.list(victim), [], 'passkeys go too');
    const [event] = await store.listAudit({ limit: 1, accountId: victim, kinds: ['second-factor-removed'] });
    assert.deepEqual([event?.actor, event?.detail], [adminId, { factor: 'all', passkeys: 1, by: 'admin' }]);
  });

  test("the console's pages: no script, no framing, no cache", async () => {
    const { accountId } = await signedIn('headers@example.com');
    await store.addGroupMembers('admins', [accountId]);
    const { ua } = await signedIn('headers@example.com');
    for (const path of ['', '/users?q=x', `/users/${accountId}`, '/audit']) {
      const answer = await ua.request(gw.url('auth.localhost', `/.auth/admin${path}`));
      assert.equal(answer.status, 200, path);
      assert.equal(answer.headers.get('cache-control'), 'no-store', path);
      assert.match(answer.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
      assert.doesNotMatch(await answer.text(), /<script/i, path);
    }
  });
});

test('without admin.access rules the console is off: 404 on every page, signed in or not', async () => {
  const gw = await startTestGateway((port, upstream) => ({
    publicUrl: `http://auth.localhost:${port}`,
    devMode: true,
    providers: [{ id: 'dev', type: 'dev' }],
    apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'dev' }],
  }));
  try {
    const ua = new UserAgent();
    await devSignIn(gw.url('auth.localhost', '/.auth/account/login/dev'), 'anyone@example.com', ua);
    for (const path of ['', '/users', '/audit', '/login/dev'])
      assert.equal((await ua.request(gw.url('auth.localhost', `/.auth/admin${path}`))).status, 404, path);
  } finally {
    await gw.close();
  }
});
