// Open redirects, in every parameter that names where a browser goes next: the gateway's
// post_login_redirect_uri (sign-in and linking) and post_logout_redirect_uri, and the OpenID
// Provider's redirect_uri and post_logout_redirect_uri (and what clients may register at all).
// A target is a path on the same host or an allow-listed URL; anything else is refused, not repaired.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { generateKey } from '../../src/crypto/keyring.ts';
import { UserAgent, finalUrl } from '../support/user-agent.ts';
import {
  RP,
  authorizationUrl,
  devSignInAt,
  named,
  startSecurityGateway,
  type Row,
  type SecurityGateway,
} from './support.ts';

interface RedirectRow extends Row {
  readonly target: string;
  /** `refused`: 400, nothing started. `same-host`: accepted, and the browser ends on the app's own host. `allowed`: accepted as it is. */
  readonly expect: 'refused' | 'same-host' | 'allowed';
}

const REF = 'RFC 9700 4.11.1; ASVS 4.0.3 5.1.5; CWE-601';
const refused = (attack: string, target: string, reference = REF): RedirectRow => ({
  attack,
  target,
  reference,
  expect: 'refused',
});

// app1 allows myapp://easyauth.callback and https://partner.example/return (and what lies under them).
const rows: RedirectRow[] = [
  { attack: 'control: a path on this host', target: '/inbox?folder=1#top', reference: REF, expect: 'same-host' },
  {
    attack: 'control: an allow-listed app scheme',
    target: 'myapp://easyauth.callback',
    reference: REF,
    expect: 'allowed',
  },
  {
    attack: 'control: under an allow-listed URL',
    target: 'https://partner.example/return/done?x=1',
    reference: REF,
    expect: 'allowed',
  },
  refused('protocol-relative URL', '//evil.com'),
  refused('three slashes', '///evil.com'),
  refused('slash backslash (browsers read "/\\" as "//")', '/\\evil.com'),
  refused('backslash slash', '\\/evil.com'),
  refused('two backslashes', '\\\\evil.com'),
  refused('scheme without slashes (WHATWG parses the host anyway)', 'https:evil.com'),
  refused('scheme and one slash', 'https:/evil.com'),
  refused('scheme and backslashes', 'http:\\\\evil.com'),
  refused('encoded slashes', '%2f%2fevil.com'),
  refused('path then encoded slash', '/%2f/evil.com'),
  refused('path then encoded slashes, upper case', '/%2F%2Fevil.com'),
  refused('double-encoded slashes', '/%252f%252fevil.com'),
  refused('encoded backslash', '/%5cevil.com'),
  refused('double-encoded backslash', '/%255Cevil.com'),
  refused('javascript: URL', 'javascript:alert(document.domain)', `${REF}; CWE-79`),
  refused('javascript: in mixed case', 'JaVaScRiPt:alert(1)', `${REF}; CWE-79`),
  refused('javascript: with "//" and an encoded newline', 'javascript://%0aalert(1)', `${REF}; CWE-79`),
  refused('javascript: after a leading space', ' javascript:alert(1)', `${REF}; CWE-79`),
  refused('javascript: split by a tab', 'java\tscript:alert(1)', `${REF}; CWE-79`),
  refused('data: URL', 'data:text/html,<script>alert(1)</script>', `${REF}; CWE-79`),
  refused('vbscript: URL', 'vbscript:msgbox(1)', `${REF}; CWE-79`),
  refused('userinfo: the allowed host as user name', 'https://partner.example@evil.com/return'),
  refused('userinfo on the allowed host itself', 'https://user:pass@partner.example/return'),
  refused('userinfo with a port-looking user name', 'https://partner.example:443@evil.com/return'),
  refused('app scheme with the allowed host as user name', 'myapp://easyauth.callback@evil.com'),
  refused("allowed host as a subdomain of the attacker's", 'https://partner.example.evil.com/return'),
  refused('allowed app scheme host as a prefix', 'myapp://easyauth.callback.evil.com'),
  refused('allowed path as a prefix without a segment boundary', 'https://partner.example/returnevil'),
  refused('allowed path, then dot segments out of it', 'https://partner.example/return/../../evil'),
  refused('allowed URL in plain http', 'http://partner.example/return'),
  refused('allowed URL on another port', 'https://partner.example:8443/return'),
  refused('backslash before the allowed host\'s "@"', 'https://evil.com\\@partner.example/return'),
  refused(
    'a dot segment before "//" (removed by the browser: the path becomes //evil.com)',
    '/.//evil.com',
    `${REF}; RFC 3986 5.2.4`,
  ),
  refused('an encoded double-dot segment before "//"', '/%2e%2e//evil.com', `${REF}; RFC 3986 5.2.4`),
  refused('a segment undone by ".." before "//"', '/x/..//evil.com', `${REF}; RFC 3986 5.2.4`),
  refused('a tab inside "//"', '/\t/evil.com'),
  refused('an encoded tab inside "//"', '/%09/evil.com'),
  refused('a newline inside "//"', '/\n/evil.com'),
  refused('CR LF: a header injected into Location', '/%0d%0aSet-Cookie:%20x=1', `${REF}; CWE-113`),
  refused('a NUL', '/%00/evil.com'),
  refused('a line separator (U+2028) inside "//"', '/\u2028/evil.com'),
  refused('fullwidth solidi (U+FF0F) after the scheme', 'https:\uff0f\uff0fevil.com'),
  refused('fullwidth solidi alone', '\uff0f\uff0fevil.com'),
  refused('an absolute URL to another site', 'https://evil.com/'),
  refused('longer than 2048 characters', `/${'a'.repeat(3000)}`, `${REF}; CWE-400`),
  {
    attack: 'a fullwidth solidus (U+FF0F) after "/": a path here, never another host',
    target: '/\uff0fevil.com',
    reference: REF,
    expect: 'same-host',
  },
  { attack: 'an ideographic full stop: a path here', target: '/\u3002evil.com', reference: REF, expect: 'same-host' },
  {
    attack: 'a fragment holding "//evil.com": a path here',
    target: '/#//evil.com',
    reference: REF,
    expect: 'same-host',
  },
];

describe('open redirects', () => {
  let gw: SecurityGateway;
  let signedIn: UserAgent;
  before(async () => {
    gw = await startSecurityGateway();
    signedIn = await devSignInAt(gw, 'app1.localhost', 'alice@example.com');
  });
  after(() => gw?.close());

  const app1 = () => new URL(gw.url('app1.localhost'));
  /** Where a Location header leads from app1. */
  const leadsTo = (location: string | null) => new URL(location ?? 'about:blank', app1());

  for (const row of rows) {
    test(`post_login_redirect_uri: ${named(row)}`, row.todo ? { todo: row.todo } : {}, async () => {
      const ua = new UserAgent();
      const start = await ua.request(
        gw.url('app1.localhost', `/.auth/login/dev?post_login_redirect_uri=${encodeURIComponent(row.target)}`),
      );
      if (row.expect === 'refused') {
        assert.equal(start.status, 400);
        assert.equal(start.headers.get('location'), null);
        assert.equal(start.headers.getSetCookie().length, 0, 'nothing started: no cookie');
        return;
      }
      assert.equal(start.status, 302);
      // Through the dev form to the end of the sign-in: where does the browser land?
      ua.holdRedirectsTo = /^(?!http:\/\/(?:app1|auth)\.localhost:)/;
      const form = await ua.navigate(new URL(start.headers.get('location')!, start.url));
      const end = await ua.submitForm(finalUrl(form), await form.text(), { user_id: 'bob@example.com' });
      if (row.expect === 'allowed') {
        assert.equal(end.status, 302);
        assert.equal(
          end.headers.get('location')!.split('#', 1)[0],
          row.target,
          'to the target (an app scheme gets #token=)',
        );
      } else {
        assert.ok(end.status === 200 || end.status === 404, `landed with ${end.status}`);
        assert.equal(new URL(finalUrl(end)).origin, app1().origin, "landed on the app's own host");
      }
    });

    test(`post_logout_redirect_uri: ${named(row)}`, row.todo ? { todo: row.todo } : {}, async () => {
      const logout = await new UserAgent().request(
        gw.url('app1.localhost', `/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(row.target)}`),
      );
      if (row.expect === 'refused') {
        assert.equal(logout.status, 400);
        assert.equal(logout.headers.get('location'), null);
      } else {
        assert.equal(logout.status, 302);
        if (row.expect === 'allowed') assert.equal(logout.headers.get('location'), row.target);
        else assert.equal(leadsTo(logout.headers.get('location')).origin, app1().origin);
      }
    });

    if (row.expect === 'refused') {
      test(`post_login_redirect_uri of /.auth/link: ${named(row)}`, async () => {
        const link = await signedIn.request(
          gw.url('app1.localhost', `/.auth/link/dev?post_login_redirect_uri=${encodeURIComponent(row.target)}`),
        );
        assert.equal(link.status, 400);
        assert.equal(link.headers.get('location'), null);
      });
    }
  }

  // session_mode=token puts the authentication token in the fragment of the target: a cross-site
  // link must not choose a page of the app (its scripts read location.hash) to receive it.
  const tokenModeRows: Array<{ attack: string; target: string; allowed: boolean }> = [
    { attack: "session_mode=token to the app's home page", target: '/', allowed: false },
    { attack: 'session_mode=token to any page of the app', target: '/profile?tab=1', allowed: false },
    {
      attack: "session_mode=token to an allow-listed https page that is not the app's",
      target: 'https://partner.example/return',
      allowed: true,
    },
    {
      attack: 'control: session_mode=token to the allow-listed app scheme',
      target: 'myapp://easyauth.callback',
      allowed: true,
    },
  ];
  for (const row of tokenModeRows) {
    test(`${row.attack} [RFC 9700 4.3; CWE-598]`, async () => {
      const start = await new UserAgent().request(
        gw.url(
          'app1.localhost',
          `/.auth/login/dev?session_mode=token&post_login_redirect_uri=${encodeURIComponent(row.target)}`,
        ),
      );
      if (row.allowed) return assert.equal(start.status, 302);
      assert.equal(start.status, 400);
      assert.match(await start.text(), /allowedExternalRedirectUrls/, 'the page says how to allow it');
      assert.equal(start.headers.getSetCookie().length, 0, 'nothing started: no cookie');
    });
  }

  test('a protected URL spelt "//evil.com/x" becomes no open redirect after the sign-in [CWE-601]', async () => {
    const ua = new UserAgent();
    const toLogin = await ua.request(gw.url('app1.localhost', '//evil.com/x'));
    assert.equal(toLogin.status, 302);
    assert.equal(leadsTo(toLogin.headers.get('location')).origin, app1().origin);
    const start = await ua.request(leadsTo(toLogin.headers.get('location')));
    assert.equal(start.status, 400, 'the sign-in refuses to return to "//evil.com/x"');
  });

  // --- the OpenID Provider: client `app2` registered `${RP}/cb` and `${RP}/bye` ---------------------

  const authorization = (redirectUri: string) => authorizationUrl(gw, 'app2', redirectUri);
  const oidcRows: RedirectRow[] = [
    {
      attack: 'control: the registered redirect_uri',
      target: `${RP}/cb`,
      reference: 'RFC 9700 4.1.3',
      expect: 'allowed',
    },
    ...[
      ['protocol-relative', '//evil.com/cb'],
      ['dot segments after the registered path', `${RP}/cb/../evil`],
      ['encoded dot segments', `${RP}/cb/..%2fevil`],
      ['the registered host as user name', `http://rp.localhost:9@evil.com/cb`],
      ['an added query', `${RP}/cb?x=1`],
      ['an added fragment', `${RP}/cb#x`],
      ['another case of the scheme and host', 'HTTP://RP.LOCALHOST:9/cb'],
      ['another case of the path', `${RP}/CB`],
      ['a trailing slash', `${RP}/cb/`],
      ['a longer path', `${RP}/cbevil`],
      ['another port', 'http://rp.localhost:90/cb'],
      ['an encoded path character', `${RP}/%63b`],
      ['a trailing tab', `${RP}/cb\t`],
      ['backslash before "@"', 'http://rp.localhost:9\\@evil.com/cb'],
      ['another host', 'http://evil.com/cb'],
      ['javascript:', 'javascript:alert(1)'],
      ['data:', 'data:text/html,x'],
    ].map(([attack, target]) =>
      refused(`redirect_uri: ${attack!}`, target!, 'RFC 9700 4.1.3 (exact matching); RFC 6749 3.1.2.4; CWE-601'),
    ),
  ];
  for (const row of oidcRows) {
    test(`OpenID Provider: ${named(row)}`, async () => {
      const answer = await new UserAgent().request(authorization(row.target));
      if (row.expect === 'refused') {
        assert.equal(answer.status, 400, 'an error page, never a redirect to an unregistered URI');
        assert.equal(answer.headers.get('location'), null);
        assert.match(await answer.text(), /redirect_uri/);
      } else {
        assert.equal(answer.status, 303);
        assert.match(answer.headers.get('location') ?? '', /\/\.auth\/oidc\/interaction\//, 'on to the sign-in');
      }
    });
  }

  const logoutRows: RedirectRow[] = [
    {
      attack: 'control: the registered post_logout_redirect_uri',
      target: `${RP}/bye`,
      reference: 'OpenID RP-Initiated Logout 1.0 section 3',
      expect: 'allowed',
    },
    ...[
      ['another host', 'http://evil.com/bye'],
      ['protocol-relative', '//evil.com/bye'],
      ['an added path', `${RP}/bye/../evil`],
      ['the redirect_uri instead', `${RP}/cb`],
      ['javascript:', 'javascript:alert(1)'],
    ].map(([attack, target]) =>
      refused(`post_logout_redirect_uri: ${attack!}`, target!, 'OpenID RP-Initiated Logout 1.0 section 3; CWE-601'),
    ),
  ];
  for (const row of logoutRows) {
    test(`OpenID Provider: ${named(row)}`, async () => {
      const answer = await new UserAgent().request(
        gw.url(
          'auth.localhost',
          `/.auth/oidc/session/end?${new URLSearchParams({ client_id: 'app2', post_logout_redirect_uri: row.target })}`,
        ),
      );
      assert.equal(answer.headers.get('location'), null);
      if (row.expect === 'refused') assert.equal(answer.status, 400);
      else {
        // Without a session nothing needs confirming: oidc-provider's own form goes on to the end.
        assert.equal(answer.status, 200);
        assert.match(await answer.text(), /\/\.auth\/oidc\/session\/end\/confirm/);
      }
    });
  }

  const registrations: Array<[string, string]> = [
    ['javascript:', 'javascript:alert(1)'],
    ['data:', 'data:text/html,x'],
    ['file:', 'file:///etc/passwd'],
    ['credentials', 'https://app@evil.com/cb'],
    ['a wildcard', 'https://*.example.com/cb'],
    ['a fragment', 'https://rp.example/cb#x'],
    ['plain http to a public host', 'http://evil.com/cb'],
    ['a private-use scheme that is no reverse domain (RFC 8252 7.1)', 'myapp:/cb'],
    ['not a URL', '/cb'],
  ];
  test('OpenID Provider: a client cannot even register a dangerous redirect URI [RFC 9700 4.1.3; RFC 8252 7.1; CWE-601]', () => {
    const configWith = (redirectUri: string) =>
      stringify({
        publicUrl: 'https://auth.example.com',
        secrets: { encryptionKeys: [generateKey()] },
        clients: [
          { id: 'rp', secret: 's'.repeat(40), redirectUris: [redirectUri], postLogoutRedirectUris: [redirectUri] },
        ],
      });
    assert.doesNotThrow(
      () => parseConfig(configWith('https://rp.example/cb'), join('/nowhere', 'signonce.yaml'), {}),
      'control: an https URI',
    );
    for (const [what, uri] of registrations) {
      assert.throws(
        () => parseConfig(configWith(uri), join('/nowhere', 'signonce.yaml'), {}),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.some((p) => p.path === 'clients[0].redirectUris[0]') &&
          error.problems.some((p) => p.path === 'clients[0].postLogoutRedirectUris[0]'),
        what,
      );
    }
  });
});
