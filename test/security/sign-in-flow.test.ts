// Attacks on the sign-in flow itself, against two real OpenID providers (oidc-provider, A = `idp`
// and B = `idpb`, the same client id at both): login CSRF and state replay, nonce and PKCE
// mismatches, authorization code injection, mix-up between the providers (RFC 9207 `iss`), and
// session fixation. Every row ends without a session for the attacker's choice of user.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';
import {
  devSignInAt,
  heldSignIn,
  named,
  sessionCookie,
  startSecurityGateway,
  whoAtApp1,
  type Row,
  type SecurityGateway,
} from './support.ts';

interface FlowRow extends Row {
  /** Plays the attack; the browser to check afterwards (the victim's, or the attacker's) and the answer that must be a refusal. */
  readonly play: (gw: SecurityGateway) => Promise<{ ua: UserAgent; answer: Response; mustNotBe?: string }>;
  /** The refusal's status: 400 a state or code not accepted; 403 the provider refused the code; 502 the provider's answer failed validation. */
  readonly status: number;
}

/** `url` with query parameters changed (undefined removes one). */
function withParams(url: URL, changes: Record<string, string | undefined>): URL {
  const changed = new URL(url);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) changed.searchParams.delete(name);
    else changed.searchParams.set(name, value);
  }
  return changed;
}
/** The same callback query at another provider's callback path. */
const atCallbackOf = (provider: string, url: URL) => new URL(`/.auth/login/${provider}/callback${url.search}`, url);
const param = (url: URL, name: string) => url.searchParams.get(name) ?? '';

const CSRF = 'RFC 9700 4.7; RFC 6749 10.12; CWE-352';
const rows: FlowRow[] = [
  // --- login CSRF and state -------------------------------------------------------------------
  {
    attack: "login CSRF: the attacker's finished sign-in (callback URL) opened in the victim's browser",
    reference: CSRF,
    status: 400,
    play: async (gw) => {
      const attacker = await heldSignIn(gw, 'idp', 'mallory');
      const ua = new UserAgent();
      return { ua, answer: await ua.request(attacker.held), mustNotBe: 'mallory@example.com' };
    },
  },
  {
    attack: 'login CSRF while the victim has a sign-in of their own in progress',
    reference: CSRF,
    status: 400,
    play: async (gw) => {
      const attacker = await heldSignIn(gw, 'idp', 'mallory');
      const ua = new UserAgent();
      ua.holdRedirectsTo = /^http:\/\/127\.0\.0\.1/;
      await (await ua.navigate(gw.url('app1.localhost', '/.auth/login/idp'))).cancel();
      return { ua, answer: await ua.request(attacker.held), mustNotBe: 'mallory@example.com' };
    },
  },
  {
    attack:
      "a stolen callback URL (code and state leaked by Referer, history or logs) replayed in the attacker's browser",
    reference: 'RFC 9700 4.2.1 and 4.5; CWE-294',
    status: 400,
    play: async (gw) => {
      const victim = await heldSignIn(gw, 'idp', 'victim');
      const ua = new UserAgent();
      return { ua, answer: await ua.request(victim.held), mustNotBe: 'victim@example.com' };
    },
  },
  {
    attack: 'a callback without state',
    reference: CSRF,
    status: 400,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      return { ua, answer: await ua.request(withParams(held, { state: undefined })) };
    },
  },
  {
    attack: 'a callback with a forged state',
    reference: CSRF,
    status: 400,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      return {
        ua,
        answer: await ua.request(withParams(held, { state: 'Zm9yZ2VkLXN0YXRlLW9mLTMyLWJ5dGVzLXh4eHh4eHg' })),
      };
    },
  },
  {
    attack: "the app host's single-use login request replayed at the auth host",
    reference: 'RFC 9700 4.7; CWE-294',
    status: 400,
    play: async (gw) => {
      const ua = new UserAgent();
      const start = new URL((await ua.request(gw.url('app1.localhost', '/.auth/login/idp'))).headers.get('location')!);
      await (await ua.request(start)).cancel();
      return { ua, answer: await ua.request(start) };
    },
  },
  {
    attack: 'the hand-off code (auth host to app host) used in another browser',
    reference: 'RFC 9700 4.5; CWE-294',
    status: 400,
    play: async (gw) => {
      const victim = await heldSignIn(gw, 'idp', 'victim', new UserAgent(), { holdAt: /\/\.auth\/login\/done\?/ });
      const ua = new UserAgent();
      return { ua, answer: await ua.request(victim.held), mustNotBe: 'victim@example.com' };
    },
  },
  {
    attack: 'the hand-off code presented at another app host',
    reference: 'RFC 9700 4.5; CWE-294',
    status: 400,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice', new UserAgent(), { holdAt: /\/\.auth\/login\/done\?/ });
      const answer = await ua.request(new URL(`${held.pathname}${held.search}`, gw.url('app2.localhost')));
      assert.equal((await ua.request(held)).status, 400, 'and the code is spent');
      return { ua, answer };
    },
  },

  // --- nonce, PKCE and code injection -----------------------------------------------------------
  {
    attack: "nonce mismatch: the authorization request's nonce replaced (ID token not for this sign-in)",
    reference: 'OpenID Connect Core 3.1.3.7 item 11; RFC 9700 4.5.3; CWE-294',
    status: 502,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice', new UserAgent(), {
        tamper: (url) => url.searchParams.set('nonce', 'the-attackers-nonce'),
      });
      return { ua, answer: await ua.request(held) };
    },
  },
  {
    attack: "PKCE mismatch: the authorization request's code_challenge replaced (the verifier no longer fits)",
    reference: 'RFC 7636 4.6; RFC 9700 2.1.1 and 4.5.3; CWE-345',
    status: 403,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice', new UserAgent(), {
        tamper: (url) => url.searchParams.set('code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'),
      });
      return { ua, answer: await ua.request(held) };
    },
  },
  {
    attack:
      "authorization code injection: the victim's code in the attacker's own callback (attacker's state and cookie)",
    reference: 'RFC 9700 4.5; RFC 7636; CWE-294',
    status: 403,
    play: async (gw) => {
      const victim = await heldSignIn(gw, 'idp', 'victim');
      const attacker = await heldSignIn(gw, 'idp', 'mallory');
      return {
        ua: attacker.ua,
        answer: await attacker.ua.request(withParams(attacker.held, { code: param(victim.held, 'code') })),
        mustNotBe: 'victim@example.com',
      };
    },
  },

  // --- mix-up: two providers, one client id -----------------------------------------------------
  {
    attack: "mix-up: a sign-in started at A answered at B's callback (A's state, B's code)",
    reference: 'RFC 9700 4.4.2 (per-provider redirect URI, state bound to the provider); CWE-346',
    status: 400,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      const fromB = await heldSignIn(gw, 'idpb', 'mallory');
      return {
        ua,
        answer: await ua.request(
          withParams(atCallbackOf('idpb', held), { code: param(fromB.held, 'code'), iss: param(fromB.held, 'iss') }),
        ),
        mustNotBe: 'mallory@example.com',
      };
    },
  },
  {
    attack: "mix-up: B's code and B's iss at A's callback",
    reference: 'RFC 9207 2.4; RFC 9700 4.4.2; CWE-346',
    status: 502,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      const fromB = await heldSignIn(gw, 'idpb', 'mallory');
      return {
        ua,
        answer: await ua.request(withParams(held, { code: param(fromB.held, 'code'), iss: param(fromB.held, 'iss') })),
        mustNotBe: 'mallory@example.com',
      };
    },
  },
  {
    attack: "mix-up: B's code at A's callback, iss claiming A",
    reference: 'RFC 9700 4.4.2 and 4.5; CWE-346',
    status: 403,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      const fromB = await heldSignIn(gw, 'idpb', 'mallory');
      return {
        ua,
        answer: await ua.request(withParams(held, { code: param(fromB.held, 'code') })),
        mustNotBe: 'mallory@example.com',
      };
    },
  },
  {
    attack: "mix-up: A's own answer with iss naming B",
    reference: 'RFC 9207 2.4; CWE-346',
    status: 502,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      return { ua, answer: await ua.request(withParams(held, { iss: gw.idps[1]!.issuer })) };
    },
  },
  {
    attack: "mix-up: A's answer without iss (A advertises authorization_response_iss_parameter_supported)",
    reference: 'RFC 9207 2.4; CWE-346',
    status: 502,
    play: async (gw) => {
      const { ua, held } = await heldSignIn(gw, 'idp', 'alice');
      return { ua, answer: await ua.request(withParams(held, { iss: undefined })) };
    },
  },
];

describe('the sign-in flow under attack (two real OpenID providers)', () => {
  let gw: SecurityGateway;
  before(async () => {
    gw = await startSecurityGateway({ idps: 2 });
  });
  after(() => gw?.close());

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const { ua, answer, mustNotBe } = await row.play(gw);
      assert.equal(
        answer.status,
        row.status,
        `answered ${answer.status}: ${(await answer.text()).replace(/<[^>]+>/g, ' ').slice(0, 300)}`,
      );
      assert.ok(
        !answer.headers.getSetCookie().some((c) => /^(AppServiceAuthSession|SignOnceSSO)=[^;]/.test(c)),
        'no session or SSO cookie set',
      );
      const who = await whoAtApp1(gw, ua);
      assert.equal(who, undefined, `the browser is signed in as ${who}`);
      if (mustNotBe) assert.notEqual(who, mustNotBe);
    });
  }

  // --- session fixation and cookie tossing ------------------------------------------------------

  /** Signs `user` in at app1 through provider A in `ua`, from /.auth/login/idp (as a victim lured there would). */
  async function signInAtA(ua: UserAgent, user: string): Promise<void> {
    const login = await ua.navigate(gw.url('app1.localhost', '/.auth/login/idp'));
    const consent = await ua.submitForm(finalUrl(login), await login.text(), { login: user, password: 'any' });
    const landed = await ua.submitForm(finalUrl(consent), await consent.text());
    assert.equal(landed.status, 200, `signed in: ${landed.url}`);
  }
  const plant = (ua: UserAgent, host: string, name: string, value: string, path = '/') =>
    ua.jar.set(`${host}:${gw.port}`, new Map([...(ua.jar.get(`${host}:${gw.port}`) ?? []), [name, { value, path }]]));
  const asCookie = (value: string) => ({
    headers: {
      cookie: `${gw.config.session.cookieName}=${value}`,
      accept: 'application/json',
      'sec-fetch-mode': 'cors',
    },
  });

  test('session fixation: a session cookie planted before the sign-in does not survive it [ASVS 4.0.3 3.2.1; CWE-384]', async () => {
    const ua = new UserAgent();
    const planted = 'v1.planted.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    plant(ua, 'app1.localhost', gw.config.session.cookieName, planted);
    await signInAtA(ua, 'victim1');
    const issued = sessionCookie(gw, ua, 'app1.localhost');
    assert.ok(issued && issued !== planted, 'a new cookie, chosen by SignOnce');
    assert.equal(
      (await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'), asCookie(planted))).status,
      401,
      'the planted value authenticates nobody',
    );
    assert.equal(await whoAtApp1(gw, ua), 'victim1@example.com');
  });

  test("session fixation: the attacker's own valid cookie planted before the victim signs in [CWE-384]", async () => {
    const attacker = await devSignInAt(gw, 'app1.localhost', 'mallory@example.com');
    const planted = sessionCookie(gw, attacker, 'app1.localhost')!;
    const ua = new UserAgent();
    plant(ua, 'app1.localhost', gw.config.session.cookieName, planted);
    await signInAtA(ua, 'victim2');
    assert.notEqual(sessionCookie(gw, ua, 'app1.localhost'), planted, 'the sign-in replaced it');
    assert.equal(await whoAtApp1(gw, ua), 'victim2@example.com');
    const me = await new UserAgent().request(gw.url('app1.localhost', '/.auth/me'), asCookie(planted));
    assert.equal(
      ((await me.json()) as Array<{ user_id: string }>)[0]?.user_id,
      'mallory@example.com',
      "the planted cookie is still only the attacker's own session",
    );
  });

  test("cookie tossing: the attacker's SSO cookie planted on the auth host (by a sibling subdomain) does not sign the victim in as the attacker [RFC 6265 8.6; RFC 6265bis cookie name prefixes (__Host-); ASVS 4.0.3 3.4.4; CWE-384; CWE-352]", {
    todo: "over http only (this gateway's publicUrl): the __Host- prefix needs Secure, so a development gateway's cookies can be tossed by a sibling host. Over https SignOnce's cookies carry the prefix and a tossed one is ignored: test/security/cookie-prefix.test.ts.",
  }, async () => {
    const attacker = new UserAgent();
    await signInAtA(attacker, 'mallory');
    const sso = attacker.jar.get(`auth.localhost:${gw.port}`)!.get('SignOnceSSO')!.value;
    const ua = new UserAgent();
    plant(ua, 'auth.localhost', 'SignOnceSSO', sso, '/.auth/');
    const landed = await ua.navigate(gw.url('app1.localhost', '/.auth/login/idp'));
    assert.match(finalUrl(landed), /\/interaction\//, "the victim meets the provider, not the attacker's session");
  });
});
