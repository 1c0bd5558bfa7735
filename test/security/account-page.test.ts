// The account page's forms under attack: another site or an app's own pages posting them with the
// victim's cookie, one user naming another's session, the page asked for on an app host. Each row
// checks the answer and that the victim's sessions and account are as they were.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { devSignIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { named, startSecurityGateway, type Row, type SecurityGateway } from './support.ts';

interface AccountRow extends Row {
  /** Plays the attack with alice's browser (signed in to the account page, and at app1); the answer's status. */
  readonly play: (attack: Attack) => Promise<number>;
  readonly status: number;
}

interface Attack {
  readonly gw: SecurityGateway;
  readonly alice: UserAgent;
  /** Bob's live session (another user). */
  readonly bobSession: string;
  /** POSTs a form of the page as alice's browser, with `headers`. */
  post(action: string, headers: Record<string, string>, form?: Record<string, string>): Promise<number>;
}

const CSRF = 'OWASP ASVS 4.2.2; CWE-352';
const SAME_ORIGIN = (gw: SecurityGateway) => ({
  'sec-fetch-site': 'same-origin',
  origin: gw.url('auth.localhost', '/').slice(0, -1),
});

const rows: AccountRow[] = [
  {
    attack: 'control: the page itself posts "Sign out everywhere else"',
    reference: 'account page',
    status: 303,
    play: ({ gw, post }) => post('sessions/end-others', SAME_ORIGIN(gw)),
  },
  {
    attack: 'a cross-site form posts "delete my account" with the cookie',
    reference: CSRF,
    status: 403,
    play: ({ post }) =>
      post(
        'delete',
        { 'sec-fetch-site': 'cross-site', origin: 'http://evil.localhost' },
        { confirmation: 'delete my account' },
      ),
  },
  {
    attack: "a sibling host's page (same site) posts sign-out everywhere else",
    reference: `${CSRF}; SECURITY.md (a sibling host is an attacker)`,
    status: 403,
    play: ({ post }) => post('sessions/end-others', { 'sec-fetch-site': 'same-site' }),
  },
  {
    attack: 'a sandboxed frame or data: URL (Origin: null, no Sec-Fetch-Site) posts the delete form',
    reference: `${CSRF}; RFC 6454 section 7.3`,
    status: 403,
    play: ({ post }) => post('delete', { origin: 'null' }, { confirmation: 'delete my account' }),
  },
  {
    attack: "an app's own page (its origin) posts the delete form to the auth host",
    reference: CSRF,
    status: 403,
    play: ({ gw, post }) =>
      post('delete', { origin: gw.url('app1.localhost', '/').slice(0, -1) }, { confirmation: 'delete my account' }),
  },
  {
    attack: "alice names bob's session in the page's own sign-out form",
    reference: 'OWASP ASVS 4.2.1 (IDOR); CWE-639',
    status: 404,
    play: ({ gw, post, bobSession }) => post('sessions/end', SAME_ORIGIN(gw), { session: bobSession }),
  },
  {
    attack: 'the delete form posted to an app host (where an app page could send it same-origin)',
    reference: CSRF,
    status: 404,
    play: async ({ gw, alice }) =>
      (
        await alice.request(gw.url('app1.localhost', '/.auth/account/delete'), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
          body: 'confirmation=delete+my+account',
        })
      ).status,
  },
];

describe('account page attacks', () => {
  let gw: SecurityGateway;
  let store: Store;
  before(async () => {
    gw = await startSecurityGateway();
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  });
  after(async () => {
    await store?.close();
    await gw?.close();
  });

  /** A browser signed in to the account page with the dev provider as `user`, and at app1 (another session). */
  async function signedIn(user: string): Promise<UserAgent> {
    const ua = new UserAgent();
    const { landed } = await devSignIn(gw.url('auth.localhost', '/.auth/account/login/dev'), user, ua);
    assert.equal(landed.status, 200);
    assert.match(await landed.text(), /Your account/);
    return ua;
  }

  for (const [i, row] of rows.entries()) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const alice = await signedIn(`alice-${i}@example.com`);
      const bob = await signedIn(`bob-${i}@example.com`);
      const accountOf = async (user: string) => (await store.findIdentity('dev', user))!.accountId;
      const [aliceAccount, bobAccount] = [
        await accountOf(`alice-${i}@example.com`),
        await accountOf(`bob-${i}@example.com`),
      ];
      // Alice has a second session elsewhere (another browser): what "sign out everywhere else" ends.
      await signedIn(`alice-${i}@example.com`);
      const [bobSession] = await store.listAccountSessions(bobAccount);
      const sessionsBefore = (await store.listAccountSessions(aliceAccount)).length;
      const status = await row.play({
        gw,
        alice,
        bobSession: bobSession!.ref,
        post: async (action, headers, form = {}) =>
          (
            await alice.request(gw.url('auth.localhost', `/.auth/account/${action}`), {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
              body: new URLSearchParams(form).toString(),
            })
          ).status,
      });
      assert.equal(status, row.status);
      assert.ok(await store.getAccount(aliceAccount), "alice's account stands");
      assert.equal((await store.listAccountSessions(bobAccount)).length, 1, "bob's session lives on");
      const sessionsAfter = (await store.listAccountSessions(aliceAccount)).filter((s) => s.expiresAt > Date.now());
      assert.equal(sessionsAfter.length, row.status === 303 ? 1 : sessionsBefore, "alice's sessions");
      const page = await bob.request(gw.url('auth.localhost', '/.auth/account'));
      assert.match(await page.text(), /Your account/, 'bob is still signed in');
    });
  }

  test('the page: never on an app host; no script, no framing, no cache', async () => {
    const alice = await signedIn('carol@example.com');
    const fromApp = await alice.request(gw.url('app1.localhost', '/.auth/account'));
    assert.equal(fromApp.status, 302);
    assert.equal(fromApp.headers.get('location'), gw.url('auth.localhost', '/.auth/account'));
    const page = await alice.request(gw.url('auth.localhost', '/.auth/account'));
    assert.equal(page.status, 200);
    assert.doesNotMatch(await page.text(), /<script/i);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
  });
});
