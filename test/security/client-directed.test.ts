// Attacks on client-directed sign-in (POST /.auth/login/{provider}) by a malicious app behind the
// gateway: apps receive their users' provider tokens (X-MS-TOKEN-*, /.auth/me), and a token that
// signs in anywhere would let app1 sign in as its users at an app that does not trust it
// (bypassing acceptTokensFrom). Real providers: oidc-provider (`idp`) and an OAuth 1.0a server
// (`twitter`). Every row is answered 401 with a reason, and the token reaches no log line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeOidcTokens, oidcSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';
import { named, startSecurityGateway, type Received, type Row, type SecurityGateway } from './support.ts';

interface DirectedRow extends Row {
  /** Plays the attack: the refused answer, the token it presented, and what the reason must say. */
  readonly play: (gw: SecurityGateway) => Promise<{ answer: Response; token: string; reason: RegExp }>;
}

/** POST /.auth/login/{provider} at `host` with `body`, as a native app sends it. */
const directed = (gw: SecurityGateway, host: string, provider: string, body: Record<string, string>) =>
  new UserAgent().request(gw.url(host, `/.auth/login/${provider}`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** The headers the app received, by name (the recording upstream answers with what it received). */
async function receivedHeaders(landed: Response): Promise<(name: string) => string> {
  const { rawHeaders } = (await landed.json()) as Received;
  return (name) => {
    const at = rawHeaders.findIndex((value, i) => i % 2 === 0 && value.toLowerCase() === name);
    if (at < 0) throw new Error(`the app did not receive ${name}`);
    return rawHeaders[at + 1]!;
  };
}

/** What app1 receives for `user` signed in on the web with `idp`: its ID token header. */
async function idTokenHandedToApp1(gw: SecurityGateway, user: string): Promise<string> {
  const { landed } = await oidcSignIn(gw.url('app1.localhost', '/'), user);
  return (await receivedHeaders(landed))('x-ms-token-idp-id-token');
}

/** A fresh ID token of `user`, got by a native app at the provider itself (SignOnce's client id). */
const nativeIdToken = async (gw: SecurityGateway, user: string) =>
  (await nativeOidcTokens(gw.idps[0]!.issuer, gw.idps[0]!, gw.url('auth.localhost', '/.auth/login/idp/callback'), user))
    .id_token;

const REPLAY = 'RFC 9700 4.6 (token injection); OpenID Connect Core 1.0 3.1.3.7; CWE-294';
const seconds = () => Math.floor(Date.now() / 1000);
const rows: DirectedRow[] = [
  {
    attack:
      'app1 replays the ID token it received in X-MS-TOKEN-IDP-ID-TOKEN as a client-directed sign-in at app2 (which does not trust app1)',
    reference: REPLAY,
    play: async (gw) => {
      const token = await idTokenHandedToApp1(gw, 'victim');
      return {
        answer: await directed(gw, 'app2.localhost', 'idp', { id_token: token }),
        token,
        reason: /^id_token already used$/,
      };
    },
  },
  {
    attack: 'app1 replays that ID token at its own host, moments after the sign-in',
    reference: REPLAY,
    play: async (gw) => {
      const token = await idTokenHandedToApp1(gw, 'victim');
      return {
        answer: await directed(gw, 'app1.localhost', 'idp', { id_token: token }),
        token,
        reason: /^id_token already used$/,
      };
    },
  },
  {
    attack: "the ID token of a native app's client-directed sign-in presented a second time",
    reference: REPLAY,
    play: async (gw) => {
      const token = await nativeIdToken(gw, 'victim');
      assert.equal(
        (await directed(gw, 'app1.localhost', 'idp', { id_token: token })).status,
        200,
        'the first use signs in',
      );
      return {
        answer: await directed(gw, 'app2.localhost', 'idp', { id_token: token }),
        token,
        reason: /^id_token already used$/,
      };
    },
  },
  {
    attack: 'an ID token issued six minutes ago (never used)',
    reference: 'OpenID Connect Core 1.0 3.1.3.7 step 10; CWE-294',
    play: async (gw) => {
      const token = await gw.idps[0]!.mintIdToken({ sub: 'victim', iat: seconds() - 360 });
      return {
        answer: await directed(gw, 'app2.localhost', 'idp', { id_token: token }),
        token,
        reason: /^id_token issued too long ago \(iat /,
      };
    },
  },
  {
    attack: 'an ID token issued two minutes in the future',
    reference: 'OpenID Connect Core 1.0 3.1.3.7 step 10',
    play: async (gw) => {
      const token = await gw.idps[0]!.mintIdToken({ sub: 'victim', iat: seconds() + 120 });
      return {
        answer: await directed(gw, 'app2.localhost', 'idp', { id_token: token }),
        token,
        reason: /^id_token issued in the future \(iat /,
      };
    },
  },
  {
    attack: 'an ID token without iat',
    reference: 'OpenID Connect Core 1.0 2 (iat REQUIRED)',
    play: async (gw) => {
      const token = await gw.idps[0]!.mintIdToken({ sub: 'victim', iat: undefined });
      return { answer: await directed(gw, 'app2.localhost', 'idp', { id_token: token }), token, reason: /iat/ };
    },
  },
  {
    attack:
      'app1 replays the OAuth 1.0a token and secret it received in X-MS-TOKEN-TWITTER-ACCESS-TOKEN(-SECRET) at app2',
    reference: 'RFC 5849 3.2; RFC 9700 4.6; CWE-294',
    play: async (gw) => {
      const ua = new UserAgent();
      const authorize = await ua.navigate(gw.url('app1.localhost', '/.auth/login/twitter?post_login_redirect_uri=/'));
      const landed = await ua.submitForm(finalUrl(authorize), await authorize.text(), { user: 'victim' });
      const header = await receivedHeaders(landed);
      const token = header('x-ms-token-twitter-access-token');
      const secret = header('x-ms-token-twitter-access-token-secret');
      return {
        answer: await directed(gw, 'app2.localhost', 'twitter', { access_token: token, access_token_secret: secret }),
        token,
        reason: /^access_token already used$/,
      };
    },
  },
  {
    attack: "a native app's OAuth 1.0a token and secret presented a second time",
    reference: 'RFC 5849 3.2; CWE-294',
    play: async (gw) => {
      const pair = gw.oauth1!.issueTokens('victim');
      assert.equal((await directed(gw, 'app1.localhost', 'twitter', pair)).status, 200, 'the first use signs in');
      return {
        answer: await directed(gw, 'app2.localhost', 'twitter', pair),
        token: pair.access_token,
        reason: /^access_token already used$/,
      };
    },
  },
];

describe('client-directed sign-in: provider tokens an app received never sign in elsewhere', () => {
  let gw: SecurityGateway;
  before(async () => {
    gw = await startSecurityGateway({ idps: 1, oauth1: true });
  });
  after(async () => {
    await gw?.close();
  });

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const { answer, token, reason } = await row.play(gw);
      const body = await answer.text();
      assert.equal(answer.status, 401, `answered ${answer.status}: ${body.slice(0, 300)}`);
      const refusal = JSON.parse(body) as { error: string; reason: string };
      assert.equal(refusal.error, 'the provider tokens are not accepted');
      assert.match(refusal.reason, reason);
      assert.ok(!gw.logs.some((line) => line.includes(token)), 'the token reached a log line');
    });
  }
});
