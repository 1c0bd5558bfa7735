// The account page (/.auth/account) in Chromium, as people use it: reached from an app, signed in
// to on the auth host; two browsers, and one signs the other out; link and unlink a sign-in;
// revoke an OpenID client's grant (its refresh then fails); change the password; delete the
// account. Each page is checked with axe-core, kept under 50 KB, and photographed
// (test-output/screenshots). The refusals a hostile page or user meets are here too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import type { Store } from '../../src/store/index.ts';
import { chromiumAndGateway, checkPage, passwordForm as signInForm, submit } from '../support/pages.ts';
import { chromiumSkipReason } from '../support/chromium.ts';
import type { TestGateway } from '../support/gateway.ts';
import { UserAgent } from '../support/user-agent.ts';

const PASSWORD = 'a long and unusual passphrase';
const NEW_PASSWORD = 'another long unusual passphrase';
const CLIENT_SECRET = 'wiki-client-secret-0123456789abcdefghij';
const VERIFIER = 'a-verifier-of-at-least-43-characters-0123456789';

describe('the account page in Chromium', { skip: chromiumSkipReason }, () => {
  let browser: Browser;
  let gw: TestGateway;
  let store: Store;
  const auth = (path: string) => gw.url('auth.localhost', path);
  const ACCOUNT = () => auth('/.auth/account');
  const rp = () => gw.url('rp.localhost', '');

  let close: () => Promise<void>;

  before(async () => {
    ({ browser, gw, store, close } = await chromiumAndGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      devMode: true,
      providers: [
        { id: 'local', type: 'password' },
        { id: 'dev', type: 'dev' },
      ],
      apps: [
        { id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local' },
        // The OpenID client's redirect target: the echo app, at another host.
        { id: 'rp', hosts: [`rp.localhost:${port}`], upstream, excludedPaths: ['/*'] },
      ],
      clients: [{ id: 'wiki', secret: CLIENT_SECRET, redirectUris: [`http://rp.localhost:${port}/cb`] }],
    })));
  });
  after(() => close?.());

  const passwordForm = (page: Page, username: string, password = PASSWORD) => signInForm(page, username, password);

  /** A new browser signed in to the account page with the local password. */
  async function atAccountPage(username: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(ACCOUNT());
    await submit(page, 'a:has-text("Sign in with Username and password")');
    await passwordForm(page, username);
    assert.equal(page.url(), ACCOUNT(), await page.innerText('body'));
    return { context, page };
  }

  /** The rows of a table of the page, as the cells' text. */
  const rows = (page: Page, section: string) =>
    page.$$eval(`section[aria-labelledby="${section}"] tbody tr`, (trs) =>
      trs.map((tr) =>
        [...tr.querySelectorAll('th, td')].map((cell) => (cell as unknown as { innerText: string }).innerText.trim()),
      ),
    );

  test('from an app, the page of the same sign-on; in a new browser, a sign-in on the auth host; each browser sees both sessions and signs the other out, whose next request is signed out', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'kim', PASSWORD, 12)).ok);
    // At the app first; its session is the browser's single sign-on, so the page needs no sign-in.
    const first = await browser.newContext();
    const page = await first.newPage();
    await page.goto(gw.url('app.localhost', '/reports'));
    await passwordForm(page, 'kim');
    assert.equal(new URL(page.url()).host, `app.localhost:${gw.port}`);
    await page.goto(gw.url('app.localhost', '/.auth/account'));
    assert.equal(page.url(), ACCOUNT(), 'the app host sends it on to the auth host');
    assert.match(await page.innerText('main'), /Signed in as kim with Username and password/);

    // A second browser signs in on the auth host.
    const second = await browser.newContext();
    const other = await second.newPage();
    await other.goto(ACCOUNT());
    assert.match(await other.innerText('h1'), /Sign in to your account/);
    await checkPage(other, 'account-sign-in');
    await submit(other, 'a:has-text("Sign in with Username and password")');
    await passwordForm(other, 'kim');
    assert.equal(other.url(), ACCOUNT());

    await page.reload();
    const sessions = await rows(page, 'sessions');
    assert.deepEqual(sessions.map((r) => r[2]).sort(), ['app', 'the account page'], JSON.stringify(sessions));
    assert.equal(sessions.filter((r) => r[0]!.includes('(this browser)')).length, 1, 'the current one marked');
    assert.ok(
      sessions.every((r) => /^Chrome \d+ on Linux/.test(r[0]!) && r[1] === '127.0.0.1'),
      JSON.stringify(sessions),
    );
    await checkPage(page, 'account');

    // The first browser signs the second out.
    const otherRow = page.locator('section[aria-labelledby="sessions"] tbody tr').filter({
      hasNotText: '(this browser)',
    });
    await Promise.all([page.waitForNavigation(), otherRow.getByRole('button', { name: 'Sign out' }).click()]);
    assert.match(await page.innerText('[role=status]'), /That session is signed out/);
    assert.equal((await rows(page, 'sessions')).length, 1);
    await other.reload();
    assert.match(await other.innerText('h1'), /Sign in to your account/, 'the other browser is signed out');
    const [audited] = await store.listAudit({ limit: 1, kinds: ['sessions-ended'] });
    assert.equal((audited!.detail as { sessions: number }).sessions, 1);

    // The second signs in again, and signs out everywhere else: the first browser's app too.
    await submit(other, 'a:has-text("Sign in with Username and password")');
    await passwordForm(other, 'kim');
    await submit(other, 'button:has-text("Sign out everywhere else")');
    assert.match(await other.innerText('[role=status]'), /signed out everywhere else/);
    assert.equal((await rows(other, 'sessions')).length, 1);
    const atApp = await page.goto(gw.url('app.localhost', '/reports'));
    assert.match(atApp!.url(), /\/\.auth\/login\/local\/form/, "the first browser's session ended, at the app too");
    await first.close();
    await second.close();
  });

  test('refused: a cross-site post, a post with another user session, a post without a session', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'mia', PASSWORD, 12)).ok);
    assert.ok((await new LocalAccounts(store).register('local', 'ned', PASSWORD, 12)).ok);
    const mia = await atAccountPage('mia');
    const ned = await atAccountPage('ned');
    const nedSession = (
      await store.listAccountSessions((await store.getPasswordCredential('local', 'ned'))!.accountId)
    )[0]!;
    // From another site, with mia's cookie: refused before anything happens.
    const asMia = new UserAgent({
      cookie: (await mia.context.cookies(auth('/.auth/account'))).map((c) => `${c.name}=${c.value}`).join('; '),
    });
    const post = (action: string, headers: Record<string, string>, body = '') =>
      asMia.request(auth(`/.auth/account/${action}`), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    const crossSite = await post('sessions/end-others', {
      origin: 'http://evil.localhost',
      'sec-fetch-site': 'cross-site',
    });
    assert.equal(crossSite.status, 403);
    assert.equal((await post('sessions/end-others', { origin: 'null' })).status, 403, 'Origin: null');
    assert.equal(
      (await post('sessions/end-others', { 'sec-fetch-site': 'same-site' })).status,
      403,
      'a sibling host is another site',
    );
    // Ned's session reference, posted by mia from the page's own origin: names nothing of hers.
    const foreign = await post(
      'sessions/end',
      { origin: new URL(auth('/')).origin },
      new URLSearchParams({ session: nedSession.ref }).toString(),
    );
    assert.equal(foreign.status, 404);
    assert.ok(await store.getSessionByRef(nedSession.ref), "ned's session lives on");
    await ned.page.reload();
    assert.match(await ned.page.innerText('h1'), /Your account/, 'ned is still signed in');
    // Without the page's session.
    const anonymous = await new UserAgent().request(auth('/.auth/account/delete'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(auth('/')).origin },
      body: 'confirmation=delete+my+account',
    });
    assert.equal(anonymous.status, 401);
    await mia.context.close();
    await ned.context.close();
  });

  test("link a sign-in and remove it; revoke an OpenID client's grant, after which its refresh fails", async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'lee', PASSWORD, 12)).ok);
    const { context, page } = await atAccountPage('lee');
    await submit(page, 'a:has-text("Link Development sign-in")');
    await page.fill('#user_id', 'lee@example.com');
    await submit(page, 'button[type=submit]');
    assert.equal(page.url(), ACCOUNT());
    const linked = await rows(page, 'identities');
    assert.deepEqual(
      linked.map((r) => r[1]),
      ['lee', 'lee@example.com'],
      JSON.stringify(linked),
    );
    await submit(page, 'section[aria-labelledby="identities"] tr:has-text("lee@example.com") button');
    assert.match(await page.innerText('[role=status]'), /removed/);
    assert.deepEqual(
      (await rows(page, 'identities')).map((r) => r[3]),
      ['Your only sign-in: it cannot be removed'],
    );

    // The OpenID client: this browser is signed in on the auth host, so no sign-in is asked.
    await page.goto(
      auth(
        `/.auth/oidc/auth?${new URLSearchParams({
          client_id: 'wiki',
          response_type: 'code',
          scope: 'openid offline_access',
          prompt: 'consent',
          state: 'st',
          redirect_uri: `${rp()}/cb`,
          code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
          code_challenge_method: 'S256',
        })}`,
      ),
    );
    const code = new URL(page.url()).searchParams.get('code');
    assert.ok(code, page.url());
    const tokens = (await tokenRequest({
      grant_type: 'authorization_code',
      code,
      redirect_uri: `${rp()}/cb`,
      code_verifier: VERIFIER,
    })) as { refresh_token: string };
    assert.ok(tokens.refresh_token, JSON.stringify(tokens));
    await page.goto(ACCOUNT());
    assert.deepEqual(
      (await rows(page, 'access')).map((r) => r[0]),
      ['wiki'],
    );
    await submit(page, 'button:has-text("Revoke")');
    assert.match(await page.innerText('[role=status]'), /can no longer act for you/);
    const refused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal((refused as { error: string }).error, 'invalid_grant');
    await context.close();
  });

  test('change the password (other sessions end; the old password no longer works), then delete the account', async () => {
    assert.ok((await new LocalAccounts(store).register('local', 'ola', PASSWORD, 12)).ok);
    const elsewhere = await atAccountPage('ola');
    const { context, page } = await atAccountPage('ola');
    await page.fill('#current', 'not the passphrase');
    await page.fill('#new', NEW_PASSWORD);
    await page.fill('#confirm', NEW_PASSWORD);
    await submit(page, 'button:has-text("Change password")');
    assert.match(await page.innerText('[role=alert]'), /current password is not right/);
    await page.fill('#current', PASSWORD);
    await page.fill('#new', NEW_PASSWORD);
    await page.fill('#confirm', NEW_PASSWORD);
    await submit(page, 'button:has-text("Change password")');
    assert.match(await page.innerText('[role=status]'), /Your password is changed/);
    await elsewhere.page.reload();
    assert.match(await elsewhere.page.innerText('main'), /Sign in to your account/, 'the other browser is signed out');
    const again = await browser.newContext();
    const retry = await again.newPage();
    await retry.goto(ACCOUNT());
    await submit(retry, 'a:has-text("Sign in with Username and password")');
    await passwordForm(retry, 'ola', PASSWORD);
    assert.match(await retry.innerText('main'), /username or the password is not right/, 'the old password');
    await retry.fill('#username', 'ola');
    await retry.fill('#password', NEW_PASSWORD);
    await submit(retry, 'button[type=submit]');
    assert.equal(retry.url(), ACCOUNT(), 'the new one');

    // Deleting needs the typed words; then everything of the account is gone.
    const accountId = (await store.getPasswordCredential('local', 'ola'))!.accountId;
    await page.fill('#confirmation', 'delete');
    await submit(page, 'button:has-text("Delete my account")');
    assert.match(await page.innerText('[role=alert]'), /type "delete my account"/);
    await page.fill('#confirmation', 'Delete my account');
    await submit(page, 'button:has-text("Delete my account")');
    assert.match(await page.innerText('h1'), /Account deleted/);
    await checkPage(page, 'account-deleted');
    assert.equal(await store.getAccount(accountId), undefined);
    assert.equal(await store.getPasswordCredential('local', 'ola'), undefined);
    await retry.reload();
    assert.match(await retry.innerText('main'), /Sign in to your account/, "the account's other session ended with it");
    const [deleted] = await store.listAudit({ limit: 1, kinds: ['account-deleted'] });
    assert.deepEqual([deleted!.accountId, deleted!.actor, deleted!.app], [accountId, accountId, '.account']);
    for (const c of [context, again, elsewhere.context]) await c.close();
  });

  /** A request of the OpenID client `wiki` at the token endpoint: the JSON answer. */
  async function tokenRequest(form: Record<string, string>): Promise<unknown> {
    const answer = await new UserAgent().request(auth('/.auth/oidc/token'), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`wiki:${CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
    });
    return answer.json();
  }
});
