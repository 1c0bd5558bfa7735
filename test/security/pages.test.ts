// Clickjacking, MIME sniffing, script injection and caching on SignOnce's own pages (the sign-in
// page and forms, consent, logout confirmation, error pages), and caching of answers that carry
// secrets. In Chromium: another origin tries to frame the sign-in and password pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { nativeDevSignIn } from '../support/sign-in.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';
import {
  RP,
  authorizationUrl,
  devSignInAt,
  named,
  startSecurityGateway,
  type Row,
  type SecurityGateway,
} from './support.ts';

interface PageRow extends Row {
  /** Gets the page; its expected status. */
  readonly page: (gw: SecurityGateway) => Promise<Response>;
  readonly status: number;
}

const REF = 'ASVS 4.0.3 14.4.1, 14.4.3, 14.4.4, 14.4.6, 14.4.7; RFC 7034; CWE-1021';
const get = (gw: SecurityGateway, host: string, path: string) => new UserAgent().request(gw.url(host, path));

/** A browser signed in at app1 that went on to an OpenID client's authorization: the page it lands on. */
async function atOpenIdProvider(
  gw: SecurityGateway,
  client: string,
  redirectUri: string,
  signedIn: boolean,
): Promise<{ ua: UserAgent; landed: Response }> {
  const ua = signedIn ? await devSignInAt(gw, 'app1.localhost', 'pat@example.com') : new UserAgent();
  ua.holdRedirectsTo = new RegExp(`^${RP}/`);
  const landed = await ua.navigate(authorizationUrl(gw, client, redirectUri));
  ua.holdRedirectsTo = undefined;
  return { ua, landed };
}

const rows: PageRow[] = [
  {
    attack: 'the sign-in page (provider list)',
    reference: REF,
    status: 200,
    page: (gw) => get(gw, 'app1.localhost', '/.auth/login'),
  },
  {
    attack: 'the dev sign-in form',
    reference: REF,
    status: 200,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/login/dev/form?state=x'),
  },
  {
    attack: 'the password sign-in form',
    reference: `${REF}; ASVS 4.0.3 8.2.1 (no-store)`,
    status: 200,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/login/local/form?state=x'),
  },
  {
    attack: 'the registration form',
    reference: REF,
    status: 200,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/login/local/register?state=x'),
  },
  {
    attack: 'the password form again after a wrong password',
    reference: `${REF}; ASVS 4.0.3 8.2.1`,
    status: 401,
    page: async (gw) => {
      const ua = new UserAgent();
      const form = await ua.navigate(gw.url('app1.localhost', '/.auth/login/local'));
      return ua.submitForm(finalUrl(form), await form.text(), {
        username: 'nobody',
        password: 'not the password at all',
      });
    },
  },
  {
    attack: "the OpenID Provider's sign-in choice",
    reference: REF,
    status: 200,
    page: async (gw) => (await atOpenIdProvider(gw, 'app2', `${RP}/cb`, false)).landed,
  },
  {
    attack: 'the consent page of a third-party client',
    reference: REF,
    status: 200,
    page: async (gw) => (await atOpenIdProvider(gw, 'partner', `${RP}/partner/cb`, true)).landed,
  },
  {
    attack: 'the RP-initiated logout confirmation',
    reference: REF,
    status: 200,
    page: async (gw) => {
      const { ua } = await atOpenIdProvider(gw, 'app2', `${RP}/cb`, true);
      return ua.navigate(gw.url('auth.localhost', '/.auth/oidc/session/end?client_id=app2'));
    },
  },
  {
    attack: 'error page: unknown provider',
    reference: REF,
    status: 404,
    page: (gw) => get(gw, 'app1.localhost', '/.auth/login/nobody'),
  },
  {
    attack: 'error page: a refused redirect target',
    reference: REF,
    status: 400,
    page: (gw) => get(gw, 'app1.localhost', '/.auth/login/dev?post_login_redirect_uri=%2F%2Fevil.com'),
  },
  {
    attack: 'error page: an expired sign-in',
    reference: REF,
    status: 400,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/login/dev/start?login=expired'),
  },
  {
    attack: 'error page: a foreign callback',
    reference: REF,
    status: 400,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/login/dev/callback?state=foreign&user_id=x'),
  },
  {
    attack: 'error page: an expired hand-off',
    reference: REF,
    status: 400,
    page: (gw) => get(gw, 'app1.localhost', '/.auth/login/done?code=expired'),
  },
  {
    attack: 'error page: the app is unreachable',
    reference: REF,
    status: 502,
    page: (gw) => get(gw, 'down.localhost', '/'),
  },
  {
    attack: 'the signed-out page',
    reference: REF,
    status: 200,
    page: (gw) => get(gw, 'app1.localhost', '/.auth/logout/complete'),
  },
  {
    attack: "oidc-provider's own post-logout page",
    reference: REF,
    status: 200,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/oidc/session/end/success'),
  },
  {
    attack: "oidc-provider's auto-submitted logout form (no OpenID session)",
    reference: REF,
    status: 200,
    page: (gw) => get(gw, 'auth.localhost', '/.auth/oidc/session/end?client_id=app2'),
    todo: "oidc-provider's form_post page: never framed now (X-Frame-Options DENY, frame-ancestors 'none') and nosniff, but it auto-submits with an inline script and its CSP sets no script-src, default-src or base-uri; since the end_session fix it ends no SignOnce session",
  },
];

/** A CSP's directives, by name. */
function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...values]) => [name!.toLowerCase(), values]),
  );
}

describe("SignOnce's own pages", () => {
  let gw: SecurityGateway;
  before(async () => {
    gw = await startSecurityGateway();
  });
  after(() => gw?.close());

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const answer = await row.page(gw);
      const html = await answer.text();
      assert.equal(answer.status, row.status, html.slice(0, 200));
      const header = (name: string) => answer.headers.get(name) ?? '';
      assert.match(header('content-type'), /^text\/html; charset=utf-8$/i);
      const csp = directives(header('content-security-policy'));
      // Framing: refused by either mechanism (old browsers read X-Frame-Options, new ones the CSP).
      assert.equal(header('x-frame-options').toUpperCase(), 'DENY');
      assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
      assert.equal(header('x-content-type-options'), 'nosniff');
      // No script may run but SignOnce's own static files (the passkey forms'), each pinned by its
      // hash: script-src (else default-src) neither absent nor loosened, naming exactly those.
      const scripts = csp.get('script-src') ?? csp.get('default-src');
      assert.ok(scripts, 'the CSP governs scripts');
      assert.ok(
        !scripts.some((s) =>
          ["'unsafe-inline'", "'unsafe-eval'", "'self'", '*', 'data:', 'http:', 'https:'].includes(s),
        ),
        `script sources: ${scripts.join(' ')}`,
      );
      assert.deepEqual(csp.get('base-uri'), ["'none'"]);
      const loaded = [...html.matchAll(/<script\b[^>]*>/gi)].map(([tag]) => {
        const own = /^<script src="([^"]+)" integrity="(sha384-[^"]+)" crossorigin="anonymous" defer>$/.exec(tag);
        assert.ok(own, `only SignOnce's own static scripts, with integrity: ${tag}`);
        return { src: own[1]!, integrity: own[2]! };
      });
      assert.deepEqual(
        [...scripts].sort(),
        loaded.length ? loaded.flatMap((s) => [`'${s.integrity}'`, s.src.split('?', 1)[0]!]).sort() : ["'none'"],
        'the CSP allows exactly the scripts the page loads',
      );
      for (const { src, integrity } of loaded) {
        assert.match(src, /^http:\/\/auth\.localhost:\d+\/\.auth\/static\/[a-z]+\.js\?v=[0-9a-f]+$/);
        const { pathname, search } = new URL(src);
        const file = await get(gw, 'auth.localhost', `${pathname}${search}`);
        assert.match(file.headers.get('content-type') ?? '', /^text\/javascript/);
        const bytes = Buffer.from(await file.text());
        assert.equal(`sha384-${createHash('sha384').update(bytes).digest('base64')}`, integrity, src);
      }
      assert.doesNotMatch(
        html.replace(/<script\b[^>]*><\/script>/gi, ''),
        /<script|\son[a-z]+\s*=/i,
        'no inline script or event handler in the page',
      );
      // No Referer leaves for another origin (RFC 9700 4.2); not no-referrer, under which a browser
      // sends Origin: null on the page's own form posts, which one without Fetch Metadata gets refused.
      assert.equal(header('referrer-policy'), 'same-origin');
      assert.equal(header('cache-control'), 'no-store');
    });
  }

  test('answers that carry tokens are never stored by a cache [RFC 6749 5.1; RFC 9700 4.3; ASVS 4.0.3 8.2.1]', async () => {
    const { handover, authenticationToken } = await nativeDevSignIn(
      gw.url('app1.localhost', ''),
      'myapp://easyauth.callback',
      { user_id: 'nora@example.com' },
    );
    assert.equal(handover.headers.get('cache-control'), 'no-store', 'the redirect carrying #token=');
    const signedIn = await devSignInAt(gw, 'app1.localhost', 'nora@example.com');
    const answers = {
      'GET /.auth/me': await signedIn.request(gw.url('app1.localhost', '/.auth/me')),
      'POST /.auth/exchange': await new UserAgent().request(gw.url('app1.localhost', '/.auth/exchange'), {
        method: 'POST',
        headers: { 'x-zumo-auth': authenticationToken, 'content-type': 'application/json' },
        body: JSON.stringify({ audience: 'app2' }),
      }),
    };
    for (const [name, answer] of Object.entries(answers)) {
      assert.equal(answer.status, 200, name);
      assert.equal(answer.headers.get('cache-control'), 'no-store', name);
      await answer.cancel();
    }
  });

  test('JSON answers of SignOnce carry X-Content-Type-Options: nosniff [ASVS 4.0.3 14.4.4; CWE-430]', async () => {
    const me = await get(gw, 'app1.localhost', '/.auth/me');
    assert.equal(me.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('framing in Chromium', { skip: chromiumSkipReason }, () => {
  let gw: SecurityGateway;
  let browser: Browser;
  // Another origin: a page that frames SignOnce's pages (and, as a control, an app's page).
  let evil: Server;

  before(async () => {
    gw = await startSecurityGateway();
    browser = await launchChromium();
    evil = createServer((request, response) => {
      if (!request.url!.startsWith('/?')) return void response.writeHead(404).end();
      const targets = JSON.parse(decodeURIComponent(request.url!.slice(2))) as string[];
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(
        `<!doctype html><title>evil</title>${targets.map((src, i) => `<iframe name="f${i}" src="${src}"></iframe>`).join('')}`,
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await new Promise((resolve) => evil?.close(resolve));
  });

  test("another origin cannot frame the sign-in page, the password form or an error page; an app's own page (the control) it can [CWE-1021]", async () => {
    const targets = [
      gw.url('app1.localhost', '/.auth/login'),
      gw.url('auth.localhost', '/.auth/login/local/form?state=x'),
      gw.url('app1.localhost', '/.auth/login/nobody'),
      gw.url('open.localhost', '/framed-app-page'),
    ];
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(
      `http://evil.localhost:${(evil.address() as AddressInfo).port}/?${encodeURIComponent(JSON.stringify(targets))}`,
      { waitUntil: 'load' },
    );
    // By position, not by name: a refused frame shows Chromium's error page, which has no name,
    // and may commit after the page's load event: wait until every frame has a document.
    const committed = () =>
      page
        .mainFrame()
        .childFrames()
        .every((frame) => frame.url() !== '' && frame.url() !== 'about:blank');
    for (const until = Date.now() + 5000; !committed() && Date.now() < until; ) await sleep(20);
    const frames = page.mainFrame().childFrames();
    assert.equal(frames.length, targets.length);
    for (const [i, target] of targets.entries()) {
      const url = frames[i]!.url();
      if (target.includes('open.localhost')) {
        assert.equal(url, target, 'control: a page without the headers loads in the frame');
        assert.match(await frames[i]!.innerText('body'), /framed-app-page/);
      } else {
        assert.notEqual(url, target, `${target} was framed`);
        assert.match(url, /^chrome-error:/, target);
      }
    }
    await context.close();
  });
});
