// Logout CSRF: another site must not be able to sign a user out of SignOnce (single logout ends
// every app of the session). RP-initiated logout at the OpenID Provider ends SignOnce's session
// only after the user confirms it on SignOnce's page; the gateway's GET /.auth/logout is Easy
// Auth's contract.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type UserAgent, finalUrl } from '../support/user-agent.ts';
import {
  RP,
  authorizationUrl,
  devSignInAt,
  named,
  startSecurityGateway,
  whoAtApp1,
  type Row,
  type SecurityGateway,
} from './support.ts';

interface LogoutRow extends Row {
  /** Plays the attack (or the control) in a browser signed in at app1 as alice. */
  readonly play: (gw: SecurityGateway, ua: UserAgent) => Promise<void>;
  /** Whether alice is still signed in afterwards. */
  readonly signedIn: boolean;
}

/** Gives the browser an OpenID Provider session too: client app2 signs it in (single sign-on). */
async function withOpenIdSession(gw: SecurityGateway, ua: UserAgent): Promise<void> {
  ua.holdRedirectsTo = new RegExp(`^${RP}/`);
  const back = await ua.navigate(authorizationUrl(gw, 'app2', `${RP}/cb`));
  ua.holdRedirectsTo = undefined;
  assert.match(back.headers.get('location') ?? '', /[?&]code=/, 'client app2 got a code');
}

/** RP-initiated logout as a cross-site link starts it (no id_token_hint: anyone can build it); the page it shows. */
async function endSession(gw: SecurityGateway, ua: UserAgent) {
  const page = await ua.navigate(gw.url('auth.localhost', '/.auth/oidc/session/end?client_id=app2'), {
    headers: { 'sec-fetch-site': 'cross-site' },
  });
  assert.equal(page.status, 200);
  return { page, html: await page.text() };
}

const CSRF = 'OpenID Connect RP-Initiated Logout 1.0 section 2 ("the OP SHOULD ask the End-User"); CWE-352';
const rows: LogoutRow[] = [
  {
    attack: 'control: RP-initiated logout confirmed with "Sign out" ends the session everywhere',
    reference: 'OpenID Connect RP-Initiated Logout 1.0',
    signedIn: false,
    play: async (gw, ua) => {
      await withOpenIdSession(gw, ua);
      const { page, html } = await endSession(gw, ua);
      assert.match(html, /Sign out\?/, "SignOnce's confirmation page");
      await ua.submitForm(finalUrl(page), html, { logout: 'yes' });
    },
  },
  {
    attack: 'RP-initiated logout answered "Stay signed in"',
    reference: CSRF,
    signedIn: true,
    play: async (gw, ua) => {
      await withOpenIdSession(gw, ua);
      const { page, html } = await endSession(gw, ua);
      await ua.submitForm(finalUrl(page), html);
    },
  },
  {
    attack:
      'a cross-site link to RP-initiated logout while the browser has no OpenID session (oidc-provider completes it without asking)',
    reference: CSRF,
    signedIn: true,
    play: async (gw, ua) => {
      const { page, html } = await endSession(gw, ua);
      // What the page's script does on load.
      await ua.submitForm(finalUrl(page), html);
    },
  },
  {
    attack: 'a cross-site top-level navigation to GET /.auth/logout',
    reference: 'CWE-352 (logout CSRF); Easy Auth compatibility',
    signedIn: true,
    todo: "GET /.auth/logout is Easy Auth's contract and takes no anti-CSRF token: a link on another site signs the user out of every app of the session (SameSite=Lax cookies go with top-level navigations). Refusing Sec-Fetch-Site: cross-site would break sign-out links from other sites; a decision for the maintainers (impact: a forced sign-out).",
    play: async (gw, ua) => {
      await (
        await ua.request(gw.url('app1.localhost', '/.auth/logout'), {
          headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
        })
      ).cancel();
    },
  },
];

describe('logout CSRF', () => {
  let gw: SecurityGateway;
  before(async () => {
    gw = await startSecurityGateway();
  });
  after(() => gw?.close());

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const ua = await devSignInAt(gw, 'app1.localhost', 'alice@example.com');
      await row.play(gw, ua);
      assert.equal(await whoAtApp1(gw, ua), row.signedIn ? 'alice@example.com' : undefined);
    });
  }
});
