// Secrets where a thief finds them: a leaked log, a stolen database or backup. One gateway, every
// flow that handles a secret (a sign-in at a real OpenID provider, /.auth/refresh by cookie and by
// token, a native sign-in, a client-directed sign-in, /.auth/me, a token exchange, password
// registration, sign-in and a wrong guess, an OpenID client's code, tokens and refresh), every
// secret collected on the way; then every log line (trace level: more than production writes)
// and every byte of the SQLite files are searched for each of them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { fetch as undiciFetch } from 'undici';
import { nativeDevSignIn, nativeOidcTokens } from '../support/sign-in.ts';
import { tamperedSignature } from '../support/tokens.ts';
import { UserAgent, finalUrl, loopback, type Response } from '../support/user-agent.ts';
import {
  OIDC_CLIENT_SECRET,
  RP,
  named,
  signingKey,
  startSecurityGateway,
  type Row,
  type SecurityGateway,
} from './support.ts';

const fetchLocal = ((input: string | URL, init?: object) =>
  undiciFetch(input, { ...init, dispatcher: loopback })) as unknown as typeof fetch;

/** Keeps `value` under `label`, numbering labels that recur with another value. */
function keep(secrets: Map<string, string>, label: string, value: string): void {
  let unique = label;
  for (let n = 2; secrets.has(unique) && secrets.get(unique) !== value; n++) unique = `${label} #${n}`;
  secrets.set(unique, value);
}

/** A browser that remembers every cookie value it was given and every code, state and login id it carried in a URL. */
class RecordingAgent extends UserAgent {
  readonly secrets: Map<string, string>;
  constructor(secrets: Map<string, string>) {
    super();
    this.secrets = secrets;
  }
  override async request(input: string | URL, init?: Parameters<UserAgent['request']>[1]): Promise<Response> {
    const url = new URL(input);
    for (const name of ['code', 'state', 'login']) {
      const value = url.searchParams.get(name);
      if (value && value.length >= 16) keep(this.secrets, `${name} in ${url.pathname}`, value);
    }
    const answer = await super.request(input, init);
    for (const cookie of answer.headers.getSetCookie()) {
      const [name, value] = cookie.split(';', 1)[0]!.split(/=(.*)/s) as [string, string];
      // oidc-provider's interaction cookies hold the interaction's uid, which its URLs carry by
      // design; their signature cookies (.sig), also collected, are what proves them.
      if (value && name !== '_interaction' && name !== '_interaction_resume')
        keep(this.secrets, `cookie ${name} (${url.host})`, value);
    }
    return answer;
  }
}

const PASSWORD = 'a passphrase nobody else would type 7Qx';
const WRONG_PASSWORD = 'a wrong guess that is also secret 9Zk';

describe('secrets in logs and in the stolen database', () => {
  let gw: SecurityGateway;
  const secrets = new Map<string, string>();
  const remember = (label: string, value: string | undefined) => {
    assert.ok(value, `${label} was obtained`);
    keep(secrets, label, value);
  };

  before(async () => {
    gw = await startSecurityGateway({ idps: 1 });
    const [idp] = gw.idps;
    const store = await gw.store();
    remember('encryption key', gw.config.secrets.encryptionKeys[0]);
    remember('client secret at the provider', idp!.clientSecret);
    remember('OpenID client secret', OIDC_CLIENT_SECRET);
    remember('signing key (private d)', String((await signingKey(gw)).privateJwk.d));
    const storedTokens = async (accountId: string, when: string) => {
      const stored = await store.getTokens({ accountId, provider: 'idp', resource: '' });
      remember(`access token (${when})`, stored?.tokens.accessToken);
      remember(`refresh token (${when})`, stored?.tokens.refreshToken);
      remember(`ID token (${when})`, stored?.tokens.idToken);
      return stored!.tokens;
    };

    // A sign-in at the real provider; a native app's own sign-in there, and with its fresh ID token a client-directed sign-in.
    const ua = new RecordingAgent(secrets);
    const signIn = async (path: string) => {
      const login = await ua.navigate(gw.url('app1.localhost', path));
      let page = await ua.submitForm(finalUrl(login), await login.text(), { login: 'alice', password: 'any' });
      // Consent is asked the first time only.
      if (/\/interaction\//.test(finalUrl(page))) page = await ua.submitForm(finalUrl(page), await page.text());
      assert.equal(page.status, 200);
    };
    await signIn('/');
    const accountId = (await store.findIdentity('idp', 'alice'))!.accountId;
    const first = await storedTokens(accountId, 'sign-in');
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      new RecordingAgent(secrets).request(gw.url('app1.localhost', path), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const native = await nativeOidcTokens(
      idp!.issuer,
      idp!,
      gw.url('auth.localhost', '/.auth/login/idp/callback'),
      'alice',
    );
    remember('ID token (native app)', native.id_token);
    remember('access token (native app)', native.access_token);
    const directed = await post('/.auth/login/idp', native);
    const { authenticationToken } = (await directed.json()) as { authenticationToken: string };
    remember('authentication token (client-directed)', authenticationToken);
    assert.equal(
      (await post('/.auth/login/idp', { id_token: tamperedSignature(first.idToken!) })).status,
      401,
      'a refused token is logged as refused',
    );
    // Signed in at the provider again: new tokens to look for.
    await signIn('/.auth/login/idp?prompt=login');
    await storedTokens(accountId, 'second sign-in');
    const me = (await (await ua.request(gw.url('app1.localhost', '/.auth/me'))).json()) as Array<{
      access_token: string;
    }>;
    assert.ok(me[0]!.access_token);
    // /.auth/refresh by cookie and by token; /.auth/me by token; an exchange; a tampered token refused.
    assert.equal((await ua.request(gw.url('app1.localhost', '/.auth/refresh'))).status, 200);
    await storedTokens(accountId, 'after /.auth/refresh');
    assert.equal(
      (
        await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'), {
          headers: { 'x-zumo-auth': authenticationToken },
        })
      ).status,
      200,
    );
    const renewed = await new UserAgent().request(gw.url('app1.localhost', '/.auth/refresh'), {
      headers: { 'x-zumo-auth': authenticationToken },
    });
    remember(
      'authentication token (from /.auth/refresh)',
      ((await renewed.json()) as { authenticationToken: string }).authenticationToken,
    );
    await storedTokens(accountId, 'after /.auth/refresh by token');
    const exchanged = await post('/.auth/exchange', { audience: 'app2' }, { 'x-zumo-auth': authenticationToken });
    remember(
      'authentication token (exchanged)',
      ((await exchanged.json()) as { authenticationToken: string }).authenticationToken,
    );
    assert.equal(
      (
        await new UserAgent().request(gw.url('app1.localhost', '/data'), {
          headers: { 'x-zumo-auth': tamperedSignature(authenticationToken) },
        })
      ).status,
      401,
    );

    // A native app's sign-in (dev provider, #token=).
    remember(
      'authentication token (native)',
      (await nativeDevSignIn(gw.url('app1.localhost', ''), 'myapp://easyauth.callback', { user_id: 'nat@example.com' }))
        .authenticationToken,
    );

    // Local accounts: registration, a wrong guess, a sign-in.
    remember('password', PASSWORD);
    remember('wrong password', WRONG_PASSWORD);
    const local = new RecordingAgent(secrets);
    const form = await local.navigate(gw.url('app1.localhost', '/.auth/login/local'));
    const registration = await local.navigate(
      new URL(/href="([^"]*register[^"]*)"/.exec(await form.text())![1]!.replaceAll('&#38;', '&'), finalUrl(form)),
    );
    assert.equal(
      (
        await local.submitForm(finalUrl(registration), await registration.text(), {
          username: 'wendy',
          password: PASSWORD,
          confirm: PASSWORD,
        })
      ).status,
      200,
    );
    const again = new RecordingAgent(secrets);
    const form2 = await again.navigate(gw.url('app1.localhost', '/.auth/login/local'));
    const wrong = await again.submitForm(finalUrl(form2), await form2.text(), {
      username: 'wendy',
      password: WRONG_PASSWORD,
    });
    assert.equal(wrong.status, 401);
    assert.equal(
      (await again.submitForm(finalUrl(wrong), await wrong.text(), { username: 'wendy', password: PASSWORD })).status,
      200,
    );

    // An OpenID client (app2): a code, tokens, a refresh (the browser is signed in already: single sign-on).
    const config = await client.discovery(
      new URL(gw.config.publicUrl),
      'app2',
      OIDC_CLIENT_SECRET,
      client.ClientSecretBasic(OIDC_CLIENT_SECRET),
      { execute: [client.allowInsecureRequests], [client.customFetch]: fetchLocal } as never,
    );
    const verifier = client.randomPKCECodeVerifier();
    remember('PKCE verifier of the OpenID client', verifier);
    ua.holdRedirectsTo = new RegExp(`^${RP}/`);
    const back = await ua.navigate(
      client.buildAuthorizationUrl(config, {
        redirect_uri: `${RP}/cb`,
        scope: 'openid offline_access',
        prompt: 'consent',
        state: 'state-of-the-client-0123456789',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }),
    );
    const callback = new URL(back.headers.get('location')!);
    remember('OpenID Provider code', callback.searchParams.get('code') ?? undefined);
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: 'state-of-the-client-0123456789',
    });
    remember('OpenID Provider access token', tokens.access_token);
    remember('OpenID Provider ID token', tokens.id_token);
    remember('OpenID Provider refresh token', tokens.refresh_token);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    remember('OpenID Provider refresh token (rotated)', refreshed.refresh_token);
    remember('OpenID Provider access token (refreshed)', refreshed.access_token);
  });
  after(() => gw?.close());

  /** Where `value` shows in `text`: as it is, URL-encoded, or base64-encoded (a header dumped whole). */
  const foundIn = (text: string, value: string) =>
    [
      value,
      encodeURIComponent(value),
      Buffer.from(value).toString('base64'),
      Buffer.from(value).toString('base64url'),
    ].some((form) => text.includes(form));

  const threats: Array<Row & { readonly text: (gw: SecurityGateway) => string }> = [
    {
      attack: 'a leaked log (every line at trace level)',
      reference: 'ASVS 4.0.3 7.1.1, 7.1.2; CWE-532',
      text: (g) => g.logs.join('\n'),
    },
    {
      attack: 'a stolen database or backup (the SQLite file, its WAL and shared memory, raw bytes)',
      reference: 'README "What is kept, and how"; ASVS 4.0.3 2.4.1, 3.2.2, 6.1.1, 8.3.4; CWE-312; CWE-256',
      text: (g) =>
        ['', '-wal', '-shm']
          .filter((suffix) => existsSync(`${g.databaseFile}${suffix}`))
          .map((suffix) => readFileSync(`${g.databaseFile}${suffix}`, 'latin1'))
          .join('\n'),
    },
  ];

  for (const threat of threats) {
    test(named(threat), threat.todo ? { todo: threat.todo } : {}, () => {
      const text = threat.text(gw);
      assert.ok(text.length > 1000, 'there is something to search');
      assert.ok(secrets.size >= 60, `${secrets.size} secrets collected`);
      const leaked = [...secrets].filter(([, value]) => foundIn(text, value)).map(([label]) => label);
      assert.deepEqual(leaked, []);
    });
  }
});
