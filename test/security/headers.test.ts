// Identity header spoofing, request smuggling and request-target tricks toward the upstream, sent
// as raw bytes over TCP (no HTTP client would send most of them). The upstream is as lenient as
// the worst app server; what it receives is the verdict: never a client-chosen identity header,
// never a request the gateway did not check, never a connection anywhere but the app.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  devSignInAt,
  named,
  rawExchange,
  sessionCookie,
  startSecurityGateway,
  statusesOf,
  type Received,
  type Row,
  type SecurityGateway,
} from './support.ts';

/** Where a row's bytes go and what they may use. `n` tags the row's requests (`row=n` in the URL). */
interface Context {
  readonly port: number;
  readonly n: number;
  readonly cookie: string;
  readonly internal: number;
}

interface HeaderRow extends Row {
  readonly bytes: (c: Context) => string;
  /**
   * `refused`: answered 4xx/5xx and nothing reaches the upstream. `stripped`: reaches the upstream
   * without any client-sent identity header. `signed-in`: reaches it with exactly SignOnce's
   * identity of the signed-in user (alice), each header once. `contained`: refused or not, only
   * the invariants every row checks (nothing smuggled, forged or sent elsewhere).
   */
  readonly expect: 'refused' | 'stripped' | 'signed-in' | 'contained';
}

const SPOOF = 'mallory';
const open = (c: Context) => `open.localhost:${c.port}`;
const guarded = (c: Context) => `guarded.localhost:${c.port}`;
const app1 = (c: Context) => `app1.localhost:${c.port}`;
// A request that arrives inside another's body, naming a protected path and a forged identity.
const inner = (c: Context) =>
  `GET /private?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\n\r\n`;
const upgrade =
  'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

const rows: HeaderRow[] = [
  // --- client-sent identity headers ----------------------------------------------------------
  {
    attack: 'X-MS-CLIENT-PRINCIPAL* as Easy Auth sends them, anonymous app',
    reference: 'README "What the app receives"; ASVS 4.0.3 4.1.2; CWE-290',
    expect: 'stripped',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-MS-CLIENT-PRINCIPAL: eyJhdXRoX3R5cCI6ImFhZCJ9\r\nX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\nX-MS-CLIENT-PRINCIPAL-ID: ${SPOOF}\r\nX-MS-CLIENT-PRINCIPAL-IDP: aad\r\n\r\n`,
  },
  {
    attack: 'identity headers in mixed case',
    reference: 'RFC 9110 5.1 (names are case-insensitive); CWE-290',
    expect: 'stripped',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nx-Ms-Client-Principal-Name: ${SPOOF}\r\nX-ms-CLIENT-principal-ID: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'identity headers with underscores (CGI frameworks read X_MS_… as X-MS-…)',
    reference: 'CWE-290; CWE-436',
    expect: 'stripped',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX_MS_CLIENT_PRINCIPAL_NAME: ${SPOOF}\r\nX-MS_CLIENT-PRINCIPAL_ID: ${SPOOF}\r\nx_ms_client_principal: e30=\r\n\r\n`,
  },
  {
    attack: 'provider token and SignOnce resource headers (X-MS-TOKEN-*, X-SIGNONCE-*)',
    reference: 'CWE-290',
    expect: 'stripped',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-MS-TOKEN-AAD-ACCESS-TOKEN: ${SPOOF}\r\nx_ms_token_idp_id_token: ${SPOOF}\r\nX-SIGNONCE-TOKEN-GRAPH: ${SPOOF}\r\nX-SignOnce-Anything: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'spoofed identity beside a real session: duplicated and in every spelling',
    reference: 'CWE-290',
    expect: 'signed-in',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${app1(c)}\r\nX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\nCookie: ${c.cookie}\r\nx-ms-client-principal-name: ${SPOOF}\r\nX_MS_CLIENT_PRINCIPAL_ID: ${SPOOF}\r\nX-MS-CLIENT-PRINCIPAL-IDP: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: "Connection naming SignOnce's identity headers (to have them dropped as hop-by-hop)",
    reference: 'RFC 9110 7.6.1; CWE-290',
    expect: 'signed-in',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${app1(c)}\r\nCookie: ${c.cookie}\r\nConnection: keep-alive, X-MS-CLIENT-PRINCIPAL-NAME, X-MS-CLIENT-PRINCIPAL, X-MS-CLIENT-PRINCIPAL-ID\r\n\r\n`,
  },
  {
    attack: 'forwarding headers and a request id chosen by an untrusted client',
    reference: 'RFC 7239 8; README trustedProxies; CWE-348',
    expect: 'stripped',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-Forwarded-For: ${SPOOF}\r\nX-Forwarded-Host: ${SPOOF}.example\r\nX-Forwarded-Proto: ${SPOOF}\r\n` +
      `Forwarded: for=${SPOOF};host=${SPOOF}.example\r\nX-Real-IP: ${SPOOF}\r\nX-Request-Id: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'obsolete line folding continuing another header with an identity header',
    reference: 'RFC 9112 5.2; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-Note: hello\r\n X-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'whitespace between the header name and the colon',
    reference: 'RFC 9112 5.1; CWE-444',
    expect: 'refused',
    bytes: (c) => `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-MS-CLIENT-PRINCIPAL-NAME : ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'bare LF line endings',
    reference: 'RFC 9112 2.2; CWE-444',
    expect: 'refused',
    bytes: (c) => `GET /?row=${c.n} HTTP/1.1\nHost: ${open(c)}\nX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\n\n`,
  },
  {
    attack: 'bare CR inside a header value',
    reference: 'RFC 9110 5.5; CWE-113',
    expect: 'refused',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-Note: a\rX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'NUL inside a header value',
    reference: 'RFC 9110 5.5; CWE-158',
    expect: 'refused',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-Note: a\u0000X-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'identity header in a chunked trailer',
    reference: 'RFC 9110 6.5.1 (trailers are not headers); CWE-290',
    expect: 'stripped',
    bytes: (c) =>
      `POST /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nTransfer-Encoding: chunked\r\nTrailer: X-MS-CLIENT-PRINCIPAL-NAME\r\n\r\n3\r\nabc\r\n0\r\nX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\n\r\n`,
  },
  {
    attack: 'a pipelined second request carrying a forged identity',
    reference: 'RFC 9112 9.3.2; CWE-290',
    expect: 'stripped',
    bytes: (c) =>
      `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\n\r\nGET /two?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nX-MS-CLIENT-PRINCIPAL-NAME: ${SPOOF}\r\n\r\n`,
  },

  // --- request smuggling toward the upstream (an excluded path carries a protected request) -----
  {
    attack: 'CL.TE: Content-Length and Transfer-Encoding: chunked together',
    reference: 'RFC 9112 6.1 and 6.3; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'two different Content-Length headers',
    reference: 'RFC 9112 6.3 item 5; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nContent-Length: 0\r\nContent-Length: ${inner(c).length}\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'a Content-Length list of different values',
    reference: 'RFC 9110 8.6; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nContent-Length: 0, ${inner(c).length}\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'Transfer-Encoding with a space before the colon',
    reference: 'RFC 9112 5.1; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nTransfer-Encoding : chunked\r\nContent-Length: ${inner(c).length}\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'Transfer-Encoding: xchunked beside Content-Length',
    reference: 'RFC 9112 6.1; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nTransfer-Encoding: xchunked\r\nContent-Length: ${inner(c).length}\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'Transfer-Encoding: chunked, identity (chunked not last)',
    reference: 'RFC 9112 6.3 item 4; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'Transfer-Encoding: chunked sent twice',
    reference: 'RFC 9112 6.1; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'a whole request inside a Content-Length body',
    reference: 'CWE-444',
    expect: 'stripped',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nContent-Length: ${inner(c).length}\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'a request after a chunked body with chunk extensions (pipelined to the gateway, checked there)',
    reference: 'RFC 9112 7.1.1; CWE-444',
    expect: 'stripped',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\nTransfer-Encoding:\tchunked\r\n\r\n3;ext="x"\r\nabc\r\n0\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'Transfer-Encoding: chunked in an HTTP/1.0 request',
    reference: 'RFC 9112 6.1; CWE-444',
    expect: 'contained',
    bytes: (c) =>
      `POST /healthz?row=${c.n} HTTP/1.0\r\nHost: ${guarded(c)}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'two Host headers (routed by one, served by the other)',
    reference: 'RFC 9112 3.2; CWE-444',
    expect: 'refused',
    bytes: (c) => `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nHost: ${guarded(c)}\r\n\r\n`,
  },
  {
    attack: 'two Host headers on a WebSocket upgrade',
    reference: 'RFC 9112 3.2; CWE-444',
    expect: 'refused',
    bytes: (c) => `GET /?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\nHost: ${guarded(c)}\r\n${upgrade}\r\n`,
  },
  {
    attack:
      'WebSocket upgrade announcing a Content-Length body (tunnelled without it, the app reads the next request as the body)',
    reference: 'RFC 9112 6.3; RFC 6455 4.1; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `GET /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\n${upgrade}Content-Length: ${inner(c).length}\r\n\r\n${inner(c)}`,
  },
  {
    attack: 'WebSocket upgrade with a chunked body',
    reference: 'RFC 9112 6.3 and 7.1; RFC 6455 4.1; CWE-444',
    expect: 'refused',
    bytes: (c) =>
      `GET /healthz?row=${c.n} HTTP/1.1\r\nHost: ${guarded(c)}\r\n${upgrade}Transfer-Encoding: chunked\r\n\r\n${inner(c).length.toString(16)}\r\n${inner(c)}\r\n0\r\n\r\n`,
  },

  // --- the request-target: the gateway must send origin-form, to the app's upstream only -------
  {
    attack:
      'absolute-form target naming a protected app, Host of an anonymous one (vhost confusion at a shared upstream)',
    reference: 'RFC 9112 3.2.1 and 3.2.2; CWE-436',
    expect: 'stripped',
    bytes: (c) => `GET http://${guarded(c)}/private?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\n\r\n`,
  },
  {
    attack: 'absolute-form target naming an internal server',
    reference: 'CWE-918',
    expect: 'stripped',
    bytes: (c) => `GET http://127.0.0.1:${c.internal}/latest/meta-data?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\n\r\n`,
  },
  {
    attack: 'WebSocket upgrade with an absolute-form target naming an internal server (SSRF)',
    reference: 'RFC 9112 3.2.1; CWE-918',
    expect: 'stripped',
    bytes: (c) =>
      `GET http://127.0.0.1:${c.internal}/latest/meta-data?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\n${upgrade}\r\n`,
  },
  {
    attack: 'WebSocket upgrade with a "//host/" target naming an internal server (SSRF)',
    reference: 'RFC 3986 4.2 (network-path reference); CWE-918',
    expect: 'stripped',
    bytes: (c) =>
      `GET //127.0.0.1:${c.internal}/latest/meta-data?row=${c.n} HTTP/1.1\r\nHost: ${open(c)}\r\n${upgrade}\r\n`,
  },
];

describe('identity headers, smuggling and request targets, as raw bytes', { concurrency: true }, () => {
  let gw: SecurityGateway;
  let cookie: string;
  // A server on the gateway's network that no client should reach through it (cloud metadata, say).
  let internal: Server;
  const internalHits: string[] = [];

  before(async () => {
    gw = await startSecurityGateway();
    const ua = await devSignInAt(gw, 'app1.localhost', 'alice@example.com');
    cookie = `${gw.config.session.cookieName}=${sessionCookie(gw, ua, 'app1.localhost')}`;
    internal = createServer((request, response) => {
      internalHits.push(request.url!);
      response.end('internal secret');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await gw?.close();
    internal?.closeAllConnections();
    await new Promise((resolve) => internal?.close(resolve));
  });

  const IDENTITY = /^(x-ms-client-principal|x-ms-token-|x-signonce-)/;
  /** The identity headers a request reached the upstream with, as [lower-case dashed name, value]. */
  const identityOf = (received: Received) => {
    const found: Array<[string, string]> = [];
    for (let i = 0; i + 1 < received.rawHeaders.length; i += 2) {
      const name = received.rawHeaders[i]!.toLowerCase().replaceAll('_', '-');
      if (IDENTITY.test(name)) found.push([name, received.rawHeaders[i + 1]!]);
    }
    return found;
  };

  rows.forEach(
    (row, n) =>
      void test(named(row), row.todo ? { todo: row.todo } : {}, async () => {
        const answer = await rawExchange(
          gw.port,
          row.bytes({ port: gw.port, n, cookie, internal: (internal.address() as AddressInfo).port }),
        );
        const statuses = statusesOf(answer);
        const tagged = new RegExp(`[?&]row=${n}(?:&|$)`);
        const mine = gw.received.filter((r) => tagged.test(r.url));
        assert.deepEqual(
          internalHits.filter((url) => tagged.test(url)),
          [],
          "the gateway connected to a server that is not the app's upstream",
        );
        // Whatever the row: no protected request slipped through, no forged value, only origin-form.
        const hostOf = (r: Received) =>
          r.rawHeaders.find((_, i) => i % 2 === 1 && /^host$/i.test(r.rawHeaders[i - 1]!));
        assert.deepEqual(
          mine
            .filter((r) => r.url.startsWith('/private') && hostOf(r) === `guarded.localhost:${gw.port}`)
            .map((r) => r.url),
          [],
          'a request to a protected path reached the upstream unauthenticated',
        );
        for (const r of mine) {
          assert.ok(r.url.startsWith('/'), `the upstream received a request-target that is not origin-form: ${r.url}`);
          assert.ok(
            !r.rawHeaders.some((value, i) => i % 2 === 1 && value.includes(SPOOF)),
            `a forged value reached the upstream: ${r.rawHeaders.join(' | ')}`,
          );
        }
        if (row.expect === 'refused') {
          assert.ok(
            statuses.length > 0 && statuses.every((s) => s >= 400),
            `answered ${statuses.join(', ') || 'nothing'}`,
          );
          assert.deepEqual(
            mine.map((r) => r.url),
            [],
            'nothing reaches the upstream',
          );
          return;
        }
        if (row.expect === 'contained') return;
        assert.ok(
          mine.length > 0 && statuses.includes(200),
          `the request should reach the app (answered ${statuses.join(', ') || 'nothing'})`,
        );
        for (const r of mine) {
          const identity = identityOf(r);
          if (row.expect === 'stripped') assert.deepEqual(identity, [], 'no identity header on an anonymous request');
          else {
            const names = identity.map(([name]) => name).sort();
            assert.deepEqual(
              names,
              [
                'x-ms-client-principal',
                'x-ms-client-principal-id',
                'x-ms-client-principal-idp',
                'x-ms-client-principal-name',
              ],
              "SignOnce's identity, each header once",
            );
            assert.equal(identity.find(([name]) => name === 'x-ms-client-principal-name')![1], 'alice@example.com');
            assert.equal(identity.find(([name]) => name === 'x-ms-client-principal-idp')![1], 'dev');
          }
        }
      }),
  );
});
