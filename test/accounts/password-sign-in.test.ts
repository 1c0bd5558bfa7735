// Local accounts through the gateway (`type: password`): register, sign in, a wrong password,
// throttling, and no way to tell from the answer whether a user exists.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Keyring } from '../../src/crypto/keyring.ts';
import { LocalAccounts } from '../../src/accounts/local-accounts.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { startTestGateway, type Echo, type TestGateway } from '../support/gateway.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';

const PASSWORD = 'a long and unusual passphrase';

describe('password accounts', () => {
  let gw: TestGateway;
  let store: Store;

  before(async () => {
    gw = await startTestGateway((port, upstream) => ({
      publicUrl: `http://auth.localhost:${port}`,
      providers: [
        { id: 'local', type: 'password', allowRegistration: true },
        { id: 'staff', type: 'password' },
      ],
      apps: [{ id: 'app', hosts: [`app.localhost:${port}`], upstream, defaultProvider: 'local' }],
    }));
    store = await openStore(gw.config.store, { keyring: new Keyring(gw.config.secrets.encryptionKeys) });
  });
  after(async () => {
    await store?.close();
    await gw?.close();
  });

  /** A new browser at the app, sent to the sign-in form; the form page. */
  const atForm = async (provider = 'local') => {
    const ua = new UserAgent();
    const form = await ua.navigate(gw.url('app.localhost', `/.auth/login/${provider}?post_login_redirect_uri=/home`));
    assert.equal(form.status, 200);
    return { ua, form, html: await form.text() };
  };
  const register = async (username: string, password: string, confirm = password) => {
    const { ua, form, html } = await atForm();
    const registration = await ua.navigate(
      new URL(/href="([^"]*register[^"]*)"/.exec(html)![1]!.replaceAll('&#38;', '&'), finalUrl(form)),
    );
    return {
      ua,
      answer: await ua.submitForm(finalUrl(registration), await registration.text(), { username, password, confirm }),
    };
  };
  const signIn = async (username: string, password: string, ua?: UserAgent) => {
    const started = ua
      ? { ua, form: await ua.navigate(gw.url('app.localhost', '/.auth/login/local')) }
      : await atForm();
    const html = ua ? await started.form.text() : (started as { html: string }).html;
    return {
      ua: started.ua,
      answer: await started.ua.submitForm(finalUrl(started.form), html, { username, password }),
    };
  };
  /** A page without what differs between any two renderings (the state, the username typed). */
  // What differs from one page to the next by design: the sign-in's state and the passkey challenge.
  const shape = async (answer: Response) =>
    (await answer.text())
      .replace(/value="[^"]*"/g, 'value=""')
      .replace(/state=[\w-]+/g, 'state=')
      .replace(/&#34;challenge&#34;:&#34;[\w-]+&#34;/g, 'challenge');

  test('register, then sign in: the app sees the user; the password is never in a URL or a log line', async () => {
    const { answer } = await register('Wendy', PASSWORD);
    assert.equal(answer.status, 200);
    assert.equal(finalUrl(answer), gw.url('app.localhost', '/home'));
    assert.equal(
      ((await answer.json()) as Echo).headers['x-ms-client-principal-name'],
      'wendy',
      'one spelling of the username',
    );
    const again = await signIn('WENDY', PASSWORD);
    assert.equal(again.answer.status, 200);
    assert.equal(((await again.answer.json()) as Echo).headers['x-ms-client-principal-idp'], 'local');
    assert.ok(!again.ua.visited.some((url) => url.includes('passphrase')), 'never in a URL');
    const link = await again.ua.navigate(gw.url('app.localhost', '/.auth/link/staff'));
    assert.equal(link.status, 400, 'a local account is not linked to another: accounts are never merged');
    assert.ok(!gw.logs.some((line) => line.includes('passphrase')), 'never logged');
  });

  test('registration refuses weak passwords, mismatches and taken usernames, saying why', async () => {
    const cases: Array<[string, string, string | undefined, RegExp]> = [
      ['xavier', 'short', undefined, /at least 12 characters/],
      ['xavier', 'password1234', undefined, /most commonly used/],
      ['xavier', PASSWORD, `${PASSWORD}!`, /not the same/],
      ['bad name', PASSWORD, undefined, /username is 1 to 128/i],
    ];
    for (const [username, password, confirm, message] of cases) {
      const { answer } = await register(username, password, confirm);
      assert.equal(answer.status, 400, username);
      assert.match(await answer.text(), message);
    }
    assert.equal((await register('yvonne', PASSWORD)).answer.status, 200);
    const taken = await register('Yvonne', PASSWORD);
    assert.equal(taken.answer.status, 400);
    assert.match(await taken.answer.text(), /taken/);
  });

  test('a wrong password and an unknown user get the same answer; a disabled user too, unless the password is right', async () => {
    assert.equal((await register('zoe', PASSWORD)).answer.status, 200);
    const wrong = (await signIn('zoe', 'not the passphrase')).answer;
    const unknown = (await signIn('nobody-at-all', PASSWORD)).answer;
    assert.deepEqual([wrong.status, unknown.status], [401, 401]);
    const unknownPage = await shape(unknown);
    assert.equal(await shape(wrong), unknownPage, 'the same page, word for word');
    assert.match(
      await (await signIn('zoe', 'not the passphrase')).answer.text(),
      /username or the password is not right/,
    );
    assert.equal(await new LocalAccounts(store).setDisabled('local', 'zoe', true), true);
    const guessed = (await signIn('zoe', 'not the passphrase')).answer;
    assert.equal(guessed.status, 401);
    assert.equal(await shape(guessed), unknownPage, 'a guess learns nothing of the account');
    // Who knows the password learns why: the account is disabled, not the password wrong.
    const disabled = (await signIn('zoe', PASSWORD)).answer;
    assert.equal(disabled.status, 401);
    assert.match(await disabled.text(), /This account is disabled\. Ask an administrator\./);
  });

  test('guessing is throttled (429, Retry-After), for unknown users alike; the real user gets in once it is waited out', async () => {
    assert.equal((await register('abel', PASSWORD)).answer.status, 200);
    for (const username of ['abel', 'no-such-abel']) {
      for (let i = 0; i < 5; i++)
        assert.equal((await signIn(username, `guess number ${i} for you`)).answer.status, 401);
      const throttled = (await signIn(username, PASSWORD)).answer;
      assert.equal(throttled.status, 429, username);
      assert.equal(throttled.headers.get('retry-after'), '1');
      assert.match(await throttled.text(), /Too many failed attempts/);
    }
    await sleep(1100);
    assert.equal((await signIn('abel', PASSWORD)).answer.status, 200, 'the right password after the wait');
    assert.equal(
      (await signIn('abel', 'one more wrong guess')).answer.status,
      401,
      'and a success forgets the failures',
    );
  });

  test("a sign-in form needs its own sign-in in progress: another browser's, or a replay, is refused", async () => {
    const { form, html } = await atForm();
    const other = new UserAgent();
    const stolen = await other.submitForm(finalUrl(form), html, { username: 'wendy', password: PASSWORD });
    assert.equal(stolen.status, 400, 'the state is bound to the browser that started');
    const foreign = await new UserAgent().request(finalUrl(form), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.localhost' },
      body: 'username=wendy',
    });
    assert.equal(foreign.status, 403, 'not posted from another site');
    const staff = await atForm('staff');
    assert.doesNotMatch(staff.html, /register/, 'no registration where it is not allowed');
    assert.equal((await staff.ua.navigate(finalUrl(staff.form).replace('/form', '/register'))).status, 404);
  });
});
