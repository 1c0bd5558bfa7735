// Session cookies tampered with, moved between hosts, forged from what a thief may hold, or sent
// along by another site's requests (CSRF). A cookie is an AES-256-GCM sealed value bound to the
// host it was issued for; the session id inside is a bearer secret the store keeps only as a hash.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { UserAgent, finalUrl, type Response } from '../support/user-agent.ts';
import {
  RP,
  authorizationUrl,
  devSignInAt,
  named,
  rawExchange,
  sessionCookie,
  startSecurityGateway,
  statusesOf,
  type Row,
  type SecurityGateway,
} from './support.ts';

interface Cookies {
  app1: string;
  app2: string;
  sso: string;
  login: string;
  revoked: string;
  idHash: string;
  /** Seals a session id as app1's cookie, under `keyring` (the gateway's by default). */
  seal(secret: string, keyring?: Keyring): string;
  /** The session id inside app1's cookie (the test holds the keys). */
  secret: string;
}
interface CookieRow extends Row {
  readonly host: 'app1' | 'app2';
  readonly value: (c: Cookies) => string;
  /** Whom /.auth/me names: `alice@example.com` only for the control. */
  readonly expect: 'alice@example.com' | 401;
}

/** `value` with the character at `index` (negative: from the end) changed. */
function flipped(value: string, index: number): string {
  const i = index < 0 ? value.length + index : index;
  return `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
}

const REF = 'ASVS 4.0.3 3.2.3, 3.5.3; CWE-565';
const rows: CookieRow[] = [
  {
    attack: 'control: the cookie on the host it was issued for',
    reference: REF,
    host: 'app1',
    value: (c) => c.app1,
    expect: 'alice@example.com',
  },
  {
    attack: 'one ciphertext character changed',
    reference: `${REF}; CWE-353`,
    host: 'app1',
    value: (c) => flipped(c.app1, Math.floor(c.app1.length / 2)),
    expect: 401,
  },
  {
    attack: 'a character of the GCM tag changed',
    reference: `${REF}; CWE-353`,
    host: 'app1',
    value: (c) => flipped(c.app1, -3),
    expect: 401,
  },
  {
    attack: 'a character of the key id changed',
    reference: REF,
    host: 'app1',
    value: (c) => flipped(c.app1, 4),
    expect: 401,
  },
  {
    attack: 'truncated by one character',
    reference: REF,
    host: 'app1',
    value: (c) => c.app1.slice(0, -1),
    expect: 401,
  },
  {
    attack: 'truncated to half',
    reference: REF,
    host: 'app1',
    value: (c) => c.app1.slice(0, c.app1.length / 2),
    expect: 401,
  },
  { attack: 'one character appended', reference: REF, host: 'app1', value: (c) => `${c.app1}A`, expect: 401 },
  {
    attack: 'another format version',
    reference: REF,
    host: 'app1',
    value: (c) => c.app1.replace(/^v1\./, 'v2.'),
    expect: 401,
  },
  { attack: 'empty', reference: REF, host: 'app1', value: () => '', expect: 401 },
  {
    attack: 'garbage of a plausible shape',
    reference: REF,
    host: 'app1',
    value: () => `v1.AAAAAAAAAAA.${'A'.repeat(80)}`,
    expect: 401,
  },
  {
    attack: "app1's cookie presented at app2",
    reference: `${REF}; RFC 6265 8.6`,
    host: 'app2',
    value: (c) => c.app1,
    expect: 401,
  },
  {
    attack: "app2's cookie presented at app1",
    reference: `${REF}; RFC 6265 8.6`,
    host: 'app1',
    value: (c) => c.app2,
    expect: 401,
  },
  {
    attack: "the auth host's SSO cookie presented at an app host",
    reference: REF,
    host: 'app1',
    value: (c) => c.sso,
    expect: 401,
  },
  {
    attack: 'the sign-in binding cookie (SignOnceLogin) presented as a session cookie',
    reference: REF,
    host: 'app1',
    value: (c) => c.login,
    expect: 401,
  },
  {
    attack: 'a cookie of a signed-out session (single logout revokes it server-side)',
    reference: 'ASVS 4.0.3 3.3.1; CWE-613',
    host: 'app1',
    value: (c) => c.revoked,
    expect: 401,
  },
  {
    attack: "a session id sealed by another deployment's key",
    reference: `${REF}; CWE-347`,
    host: 'app1',
    value: (c) => c.seal(c.secret, new Keyring([generateKey()])),
    expect: 401,
  },
  {
    attack:
      'control: the session id itself, sealed again with the key, authenticates (so the next row means something)',
    reference: REF,
    host: 'app1',
    value: (c) => c.seal(c.secret),
    expect: 'alice@example.com',
  },
  {
    attack: 'a stolen database and the encryption key: a stored session id hash sealed as a cookie',
    reference: 'README "What is kept, and how"; ASVS 4.0.3 3.2.2; CWE-522',
    host: 'app1',
    value: (c) => c.seal(c.idHash),
    expect: 401,
  },
];

describe('session cookies tampered with or moved', () => {
  let gw: SecurityGateway;
  let cookies: Cookies;

  before(async () => {
    gw = await startSecurityGateway();
    const ua = await devSignInAt(gw, 'app1.localhost', 'alice@example.com');
    // app2 gets its own cookie for the same session by single sign-on.
    await ua.navigate(gw.url('app2.localhost', '/.auth/login/dev?post_login_redirect_uri=/'));
    const leaving = await devSignInAt(gw, 'app1.localhost', 'leaving@example.com');
    const revoked = sessionCookie(gw, leaving, 'app1.localhost')!;
    await leaving.request(gw.url('app1.localhost', '/.auth/logout'));
    // A sign-in in progress: the app host's binding cookie.
    const starting = new UserAgent();
    await (await starting.request(gw.url('app1.localhost', '/.auth/login/dev'))).cancel();
    // What a thief of the database reads: alice's session row (the first made), by its id hash.
    const db = new DatabaseSync(gw.databaseFile, { readOnly: true });
    const { id_hash: idHash } = db.prepare('SELECT id_hash FROM sessions ORDER BY created_at LIMIT 1').get() as {
      id_hash: string;
    };
    db.close();
    const gatewayKeys = new Keyring(gw.config.secrets.encryptionKeys);
    const binding = { purpose: 'session-cookie', owner: [`app1.localhost:${gw.port}`] };
    cookies = {
      app1: sessionCookie(gw, ua, 'app1.localhost')!,
      app2: sessionCookie(gw, ua, 'app2.localhost')!,
      sso: ua.jar.get(`auth.localhost:${gw.port}`)!.get('SignOnceSSO')!.value,
      login: starting.jar.get(`app1.localhost:${gw.port}`)!.get('SignOnceLogin')!.value,
      revoked,
      idHash,
      secret: '',
      seal: (secret, keyring = gatewayKeys) => keyring.seal(secret, binding),
    };
    cookies.secret = gatewayKeys.openString(cookies.app1, binding);
    assert.notEqual(idHash, cookies.secret, 'the store keeps a hash, not the session id');
    assert.ok(cookies.app2 && cookies.app2 !== cookies.app1, 'app2 has a cookie of its own');
  });
  after(() => gw?.close());

  for (const row of rows) {
    test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
      const me = await new UserAgent().request(gw.url(`${row.host}.localhost`, '/.auth/me'), {
        headers: {
          cookie: `${gw.config.session.cookieName}=${row.value(cookies)}`,
          accept: 'application/json',
          'sec-fetch-mode': 'cors',
        },
      });
      if (row.expect === 401) assert.equal(me.status, 401);
      else assert.equal(((await me.json()) as Array<{ user_id: string }>)[0]?.user_id, row.expect);
    });
  }

  test("app1's session cookie planted as the SSO cookie on the auth host gives no single sign-on [CWE-565]", async () => {
    const ua = new UserAgent();
    ua.jar.set(`auth.localhost:${gw.port}`, new Map([['SignOnceSSO', { value: cookies.app1, path: '/.auth/' }]]));
    const landed = await ua.navigate(gw.url('app2.localhost', '/.auth/login/dev'));
    assert.match(
      finalUrl(landed),
      /\/\.auth\/login\/dev\/form\?/,
      "at the sign-in form: the cookie is bound to app1's host",
    );
  });

  // Cross-site request forgery with the cookie: state-changing requests must come from the app's own pages.
  const csrfRows: Array<
    Row & {
      readonly host: string;
      readonly path: string;
      readonly headers: Record<string, string>;
      readonly status: number;
      readonly upgrade?: boolean;
    }
  > = [
    {
      attack: 'control: a same-origin POST',
      reference: 'ASVS 4.0.3 4.2.2, 13.2.3',
      host: 'app1',
      path: '/form',
      headers: { origin: 'http://app1.localhost:PORT' },
      status: 200,
    },
    {
      attack: 'a POST from another site (Origin)',
      reference: 'ASVS 4.0.3 4.2.2, 13.2.3; CWE-352',
      host: 'app1',
      path: '/form',
      headers: { origin: 'https://evil.example' },
      status: 403,
    },
    {
      attack: 'a POST with Origin: null (sandboxed frame, data: URL)',
      reference: 'RFC 6454 7.3; CWE-352',
      host: 'app1',
      path: '/form',
      headers: { origin: 'null' },
      status: 403,
    },
    {
      attack: 'a POST marked Sec-Fetch-Site: cross-site, without Origin',
      reference: 'Fetch Metadata; CWE-352',
      host: 'app1',
      path: '/form',
      headers: { 'sec-fetch-site': 'cross-site' },
      status: 403,
    },
    {
      attack: "a POST from a sibling app's origin (same site, other app)",
      reference: 'CWE-352; CWE-346',
      host: 'app1',
      path: '/form',
      headers: { origin: 'http://app2.localhost:PORT' },
      status: 403,
    },
    {
      attack:
        'control: a same-origin POST from a page under Referrer-Policy: no-referrer (Chromium: Sec-Fetch-Site: same-origin, Origin: null)',
      reference: 'Fetch Metadata 2.1; Fetch "serializing a request origin"',
      host: 'app1',
      path: '/form',
      headers: { 'sec-fetch-site': 'same-origin', origin: 'null' },
      status: 200,
    },
    {
      attack: "a POST from another site's page without referrer (Origin: null, Sec-Fetch-Site: cross-site)",
      reference: 'Fetch Metadata 2.1; CWE-352',
      host: 'app1',
      path: '/form',
      headers: { 'sec-fetch-site': 'cross-site', origin: 'null' },
      status: 403,
    },
    {
      attack: "a POST from a sibling host (Sec-Fetch-Site: same-site, the sibling's Origin)",
      reference: 'Fetch Metadata 2.1; CWE-352; CWE-346',
      host: 'app1',
      path: '/form',
      headers: { 'sec-fetch-site': 'same-site', origin: 'http://app2.localhost:PORT' },
      status: 403,
    },
    {
      attack: 'a POST from a sibling host marked Sec-Fetch-Site: same-site, without Origin',
      reference: 'Fetch Metadata 2.1; CWE-352',
      host: 'app1',
      path: '/form',
      headers: { 'sec-fetch-site': 'same-site' },
      status: 403,
    },
    {
      attack: 'unlinking an identity from another site',
      reference: 'CWE-352',
      host: 'app1',
      path: '/.auth/unlink/dev',
      headers: { origin: 'https://evil.example' },
      status: 403,
    },
    {
      attack: "unlinking from another site's page without referrer (Origin: null, Sec-Fetch-Site: cross-site)",
      reference: 'Fetch Metadata 2.1; CWE-352',
      host: 'app1',
      path: '/.auth/unlink/dev',
      headers: { 'sec-fetch-site': 'cross-site', origin: 'null' },
      status: 403,
    },
    {
      attack:
        'unlinking with Origin: null, without Sec-Fetch-Site (a browser without Fetch Metadata, a sandboxed frame)',
      reference: 'RFC 6454 7.3; CWE-352',
      host: 'app1',
      path: '/.auth/unlink/dev',
      headers: { origin: 'null' },
      status: 403,
    },
    {
      attack: 'unlinking from a sibling host (Sec-Fetch-Site: same-site)',
      reference: 'Fetch Metadata 2.1; CWE-352',
      host: 'app1',
      path: '/.auth/unlink/dev',
      headers: { 'sec-fetch-site': 'same-site', origin: 'http://app2.localhost:PORT' },
      status: 403,
    },
    {
      attack: 'a WebSocket opened by another site with the cookie (cross-site WebSocket hijacking)',
      reference: 'RFC 6455 10.2; CWE-1385',
      host: 'app1',
      path: '/live',
      headers: { origin: 'https://evil.example' },
      status: 403,
      upgrade: true,
    },
  ];
  for (const row of csrfRows) {
    test(named(row), async () => {
      const cookie = `${gw.config.session.cookieName}=${cookies.app1}`;
      const headers = Object.fromEntries(
        Object.entries(row.headers).map(([name, value]) => [name, value.replace('PORT', String(gw.port))]),
      );
      if (row.upgrade) {
        const lines = Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('');
        const answer = await rawExchange(
          gw.port,
          `GET ${row.path} HTTP/1.1\r\nHost: ${row.host}.localhost:${gw.port}\r\nCookie: ${cookie}\r\n${lines}` +
            'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
        assert.deepEqual(statusesOf(answer), [row.status]);
        return;
      }
      const answer = await new UserAgent().request(gw.url(`${row.host}.localhost`, row.path), {
        method: 'POST',
        body: 'x',
        headers: {
          cookie,
          'content-type': 'text/plain',
          accept: 'application/json',
          'sec-fetch-mode': 'cors',
          ...headers,
        },
      });
      assert.equal(answer.status, row.status);
      await answer.cancel();
    });
  }

  // SignOnce's own forms on the auth host posted by another page: a sign-in into the attacker's
  // account (login CSRF) or a consent given in the user's name. Each hostile set of headers is what
  // a browser sends for such a post; the control is what it sends for the form's own page.
  const FORM_ATTACKS: ReadonlyArray<readonly [string, Record<string, string>]> = [
    ['from another site', { origin: 'https://evil.example' }],
    [
      "from another site's page without referrer (Origin: null, Sec-Fetch-Site: cross-site)",
      { origin: 'null', 'sec-fetch-site': 'cross-site' },
    ],
    [
      'with Origin: null, without Sec-Fetch-Site (a browser without Fetch Metadata, a sandboxed frame)',
      { origin: 'null' },
    ],
    [
      'from a sibling host (Sec-Fetch-Site: same-site)',
      { origin: 'http://app1.localhost:PORT', 'sec-fetch-site': 'same-site' },
    ],
  ];
  const withPort = (headers: Record<string, string>) =>
    Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value.replace('PORT', String(gw.port))]));
  const formPost = (ua: UserAgent, url: string, headers: Record<string, string>, body: string) =>
    ua.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...withPort(headers) },
      body,
    });

  for (const form of ['form', 'register'] as const) {
    for (const [how, headers] of FORM_ATTACKS) {
      test(`the password ${form === 'form' ? 'sign-in' : 'registration'} form posted ${how} is refused [CWE-352; Fetch Metadata 2.1]`, async () => {
        const answer = await formPost(
          new UserAgent(),
          gw.url('auth.localhost', `/.auth/login/local/${form}`),
          headers,
          'state=x&username=a&password=b&confirm=b',
        );
        assert.equal(answer.status, 403);
        assert.match(await answer.text(), /can only be sent from its own page/);
      });
    }
  }

  /** A signed-in browser at the consent page of the third-party client `partner`; the URL its form posts to. */
  async function atConsent(user: string): Promise<{ ua: UserAgent; action: string }> {
    const ua = await devSignInAt(gw, 'app1.localhost', user);
    ua.holdRedirectsTo = new RegExp(`^${RP}/`);
    const page = await ua.navigate(authorizationUrl(gw, 'partner', `${RP}/partner/cb`));
    const html = await page.text();
    assert.match(html, /Allow partner\?/);
    return { ua, action: new URL(/action="([^"]*)"/.exec(html)![1]!, finalUrl(page)).href };
  }
  const codeOf = (answer: Response) => new URL(answer.headers.get('location') ?? '/', RP).searchParams.get('code');

  test('control: consent allowed on its own page (Sec-Fetch-Site: same-origin, Origin: null under no-referrer) gives the client a code [Fetch Metadata 2.1]', async () => {
    const { ua, action } = await atConsent('cora@example.com');
    const answer = await ua.navigate(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: 'null' },
      body: 'decision=allow',
    });
    assert.ok(codeOf(answer), `a code for the client (${answer.status})`);
  });
  for (const [how, headers] of FORM_ATTACKS) {
    test(`consent posted ${how} is refused, no code [CWE-352; Fetch Metadata 2.1]`, async () => {
      const { ua, action } = await atConsent('cora@example.com');
      const answer = await formPost(ua, action, headers, 'decision=allow');
      assert.equal(answer.status, 403);
      assert.equal(codeOf(answer), null);
    });
  }
});
