// The second step of a local sign-in under attack: skipped, taken to another browser, posted from
// another site, a code used twice, another account's recovery code, Unicode digits, guessing. Each
// row checks the answer and that no session came of it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { Passkeys } from '../../src/accounts/passkeys.ts';
import { SecondFactors } from '../../src/accounts/second-factor.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { authenticatorCode } from '../support/pages.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';
import { SoftwareAuthenticator, passkeySignInForm } from '../support/webauthn.ts';
import { named, type Row } from './support.ts';

const PASSWORD = 'a long and unusual passphrase';
const CODES = 'RFC 6238 section 5.2; OWASP ASVS 2.8';

interface StepRow extends Row {
  /** Plays the attack from the second step's page (the password already right); the final answer. */
  readonly play: (at: SecondStepPage) => Promise<Response>;
  readonly status: number;
  /** Whether the browser ends signed in at the app. */
  readonly signedIn: boolean;
}

interface SecondStepPage {
  readonly gw: TestGateway;
  readonly ua: UserAgent;
  readonly url: string;
  readonly html: string;
  /** A code the user's authenticator shows now (the next step's: the enrolment used this one). */
  readonly code: () => string;
  readonly recoveryCodes: readonly string[];
  readonly otherRecoveryCode: string;
}

const rows: StepRow[] = [
  {
    attack: 'control: the right code',
    reference: CODES,
    status: 200,
    signedIn: true,
    play: ({ ua, url, html, code }) => ua.submitForm(url, html, { code: code() }),
  },
  {
    attack: 'the step skipped: the app asked for without a code',
    reference: 'OWASP ASVS 2.8; CWE-308',
    status: 200,
    signedIn: false,
    play: ({ gw, ua }) => ua.navigate(gw.url('app.localhost', '/home')),
  },
  {
    attack: 'the second step taken to another browser (its state and the right code)',
    reference: 'RFC 9700 section 4.7 (login CSRF); CWE-352',
    status: 400,
    signedIn: false,
    play: ({ url, html, code }) => new UserAgent().submitForm(url, html, { code: code() }),
  },
  {
    attack: 'the second step posted from another site',
    reference: 'OWASP ASVS 4.2.2; CWE-352',
    status: 403,
    signedIn: false,
    play: ({ ua, url, html, code }) =>
      ua.request(url.replace(/form\?.*$/, 'second-factor'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
        body: new URLSearchParams({ state: /name="state" value="([^"]+)"/.exec(html)![1]!, code: code() }).toString(),
      }),
  },
  {
    attack: "another account's recovery code",
    reference: CODES,
    status: 401,
    signedIn: false,
    play: ({ ua, url, html, otherRecoveryCode }) => ua.submitForm(url, html, { code: otherRecoveryCode }),
  },
  {
    attack: 'the right code in Unicode digits (fullwidth)',
    reference: 'UTS #39; CWE-176',
    status: 401,
    signedIn: false,
    play: ({ ua, url, html, code }) =>
      ua.submitForm(url, html, {
        code: code().replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))),
      }),
  },
];

describe('second-step attacks', () => {
  let gw: TestGateway;
  let store: Store;
  let factors: SecondFactors;

  before(async () => {
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [{ id: 'local', type: 'password' }],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local', sso: false }],
    }));
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
    factors = new SecondFactors(store, { issuer: 'test' });
  });
  after(async () => {
    await store?.close();
    await gw?.close();
  });

  /** A local user with TOTP on: its URI and recovery codes. */
  async function enrolled(username: string) {
    const registered = await new LocalAccounts(store).register('local', username, PASSWORD, 12);
    assert.ok(registered.ok);
    const { secret, uri } = factors.beginTotp(registered.accountId, username);
    const confirmed = await factors.confirmTotp(registered.accountId, secret, authenticatorCode(uri));
    assert.ok(confirmed.ok);
    return { uri, recoveryCodes: confirmed.recoveryCodes };
  }

  /** A browser whose password was right: at the second step's page. */
  async function atSecondStep(username: string) {
    const ua = new UserAgent();
    const form = await ua.navigate(gw.url('app.localhost', '/home'));
    const step = await ua.submitForm(finalUrl(form), await form.text(), { username, password: PASSWORD });
    const html = await step.text();
    assert.match(html, /Two-step sign-in/);
    return { ua, url: finalUrl(form), html };
  }

  const signedInAtApp = async (ua: UserAgent) => {
    const answer = await ua.request(gw.url('app.localhost', '/home'));
    return answer.status === 200 && (await answer.text()).includes('x-ms-client-principal');
  };

  for (const [i, row] of rows.entries()) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const { uri, recoveryCodes } = await enrolled(`victim-${i}`);
      const other = await enrolled(`other-${i}`);
      const at = await atSecondStep(`victim-${i}`);
      const answer = await row.play({
        gw,
        ...at,
        code: () => authenticatorCode(uri, Date.now() + 30_000),
        recoveryCodes,
        otherRecoveryCode: other.recoveryCodes[0]!,
      });
      assert.equal(answer.status, row.status);
      assert.equal(await signedInAtApp(at.ua), row.signedIn);
    });
  }

  test('a passkey of a disabled account signs no one in: the disabled page (401), no session, audited', async () => {
    const registered = await new LocalAccounts(store).register('local', 'frozen', PASSWORD, 12);
    assert.ok(registered.ok);
    // A passkey for SignOnce's relying party (the auth host), as the account page registers one.
    const publicUrl = new URL(gw.config.publicUrl);
    const rp = { rpId: publicUrl.hostname, rpName: publicUrl.host, origin: publicUrl.origin };
    const passkeys = new Passkeys(store, rp);
    const authenticator = new SoftwareAuthenticator(rp);
    const options = await passkeys.registrationOptions(registered.accountId, 'frozen');
    const added = await passkeys.verifyRegistration(
      registered.accountId,
      'Key',
      authenticator.register(options),
      options.challenge,
    );
    assert.ok(added.ok);
    /** A new browser posting the sign-in page's passkey form with the authenticator's answer. */
    const passkeySignIn = async () => {
      const ua = new UserAgent();
      const form = await ua.navigate(gw.url('app.localhost', '/home'));
      const { state, challenge, optionsJSON } = passkeySignInForm(await form.text());
      const answer = await ua.request(new URL('/.auth/login/local/passkey', finalUrl(form)).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl.origin },
        body: new URLSearchParams({
          state,
          challenge,
          response: JSON.stringify(authenticator.authenticate({ challenge: JSON.parse(optionsJSON).challenge })),
        }).toString(),
      });
      return { ua, answer };
    };
    const control = await passkeySignIn();
    assert.equal(control.answer.status, 302, 'control: the passkey signs the enabled account in');
    await control.ua.navigate(new URL(control.answer.headers.get('location')!, gw.config.publicUrl).href);
    assert.equal(await signedInAtApp(control.ua), true);

    assert.ok(await store.setAccountDisabled(registered.accountId, Date.now()));
    const { ua, answer } = await passkeySignIn();
    assert.equal(answer.status, 401);
    assert.match(await answer.text(), /<title>Account disabled<\/title>/);
    assert.equal(await signedInAtApp(ua), false);
    const [refused] = await store.listAudit({ limit: 1, accountId: registered.accountId, kinds: ['sign-in'] });
    assert.deepEqual([refused?.outcome, refused?.detail], ['refused', { reason: 'the account is disabled' }]);
  });

  test('a code used once cannot sign in again; guessing is throttled (429, Retry-After)', async () => {
    const { uri } = await enrolled('reuse');
    const code = authenticatorCode(uri, Date.now() + 30_000);
    const first = await atSecondStep('reuse');
    assert.equal((await first.ua.submitForm(first.url, first.html, { code })).status, 200);
    const second = await atSecondStep('reuse');
    const replayed = await second.ua.submitForm(second.url, second.html, { code });
    assert.equal(replayed.status, 401, 'the same code twice');
    assert.equal(await signedInAtApp(second.ua), false);

    await enrolled('guessed');
    let page = await atSecondStep('guessed');
    let answer: Response | undefined;
    let html = page.html;
    for (let i = 0; i < 8 && answer?.status !== 429; i++) {
      answer = await page.ua.submitForm(page.url, html, { code: '000000' });
      html = await answer.text();
      page = { ...page, url: finalUrl(answer) };
    }
    assert.equal(answer?.status, 429, 'throttled within 8 wrong codes');
    const wait = Number(answer!.headers.get('retry-after'));
    assert.ok(Number.isInteger(wait) && wait > 0, 'Retry-After in whole seconds');
    assert.match(
      html,
      new RegExp(`Too many wrong codes\\. Try again in ${wait} seconds?\\.`),
      'the page tells the wait',
    );
    assert.equal(await signedInAtApp(page.ua), false, 'never signed in');
  });
});
