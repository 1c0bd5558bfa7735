// Path normalisation against `excludedPaths`, on a running gateway: app `guarded` answers 401 to
// anonymous requests except at /healthz and under /public/. Every spelling an upstream might
// normalise into a protected path must require authentication; an excluded request reaches the
// upstream as a path that is what it names. Requests go as raw bytes, so no client normalises them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { named, rawExchange, startSecurityGateway, statusesOf, type Row, type SecurityGateway } from './support.ts';

interface PathRow extends Row {
  readonly target: string;
  readonly method?: string;
  /** `excluded`: served without authentication; `protected`: refused (401, or 400 from the HTTP parser), the upstream not reached. */
  readonly expect: 'excluded' | 'protected';
}

const REF = 'RFC 3986 6 (equivalence); ASVS 4.0.3 4.1.5 (fail securely); CWE-22; CWE-41';
const protectedRow = (attack: string, target: string, reference = REF): PathRow => ({
  attack,
  target,
  reference,
  expect: 'protected',
});

const rows: PathRow[] = [
  { attack: 'control: the excluded path', target: '/healthz', reference: REF, expect: 'excluded' },
  { attack: 'control: the excluded path with a query', target: '/healthz?probe=1', reference: REF, expect: 'excluded' },
  { attack: 'control: under an excluded prefix', target: '/public/logo.png', reference: REF, expect: 'excluded' },
  {
    attack: 'control: dot segments in the query string only',
    target: '/healthz?next=/../../private',
    reference: REF,
    expect: 'excluded',
  },
  protectedRow('control: a protected path', '/private'),
  protectedRow('dot-dot after the excluded path', '/healthz/../private'),
  protectedRow('upper case', '/HEALTHZ'),
  protectedRow('mixed case', '/Healthz'),
  protectedRow('encoded slashes and dots', '/healthz%2f..%2fprivate'),
  protectedRow('encoded slashes, upper case', '/healthz%2F..%2Fprivate'),
  protectedRow('doubled leading slash', '//healthz'),
  protectedRow('doubled slash inside a prefix', '/public//../private'),
  protectedRow('a ;parameter suffix (Tomcat, Jetty strip it)', '/healthz;x'),
  protectedRow('a ;parameter then dot-dot', '/healthz;/../private'),
  protectedRow('dot-dot with a ;parameter under a prefix', '/public/..;/private'),
  protectedRow('an encoded NUL', '/healthz%00'),
  protectedRow('an encoded NUL then dot-dot', '/healthz%00/../private'),
  protectedRow('a dot segment first', '/./healthz'),
  protectedRow('dot, excluded path, dot-dot', '/./healthz/../x'),
  protectedRow('an encoded dot segment first', '/%2e/healthz'),
  protectedRow('encoded dot-dot after the excluded path', '/healthz/%2e%2e/private'),
  protectedRow('half-encoded dot-dot', '/healthz/.%2e/private'),
  protectedRow('encoded dot-dot under a prefix', '/public/%2e%2e/private'),
  protectedRow('dot-dot and an encoded slash under a prefix', '/public/..%2fprivate'),
  protectedRow('backslashes', '/healthz\\..\\private'),
  protectedRow('encoded backslashes under a prefix', '/public/..%5cprivate'),
  protectedRow('a raw "#" (a fragment sent to the server)', '/private#/healthz'),
  protectedRow('an encoded "#"', '/private%23/../healthz'),
  protectedRow('an encoded "?"', '/private%3f/../healthz'),
  protectedRow('a trailing slash on an exact path', '/healthz/'),
  protectedRow('a trailing encoded space', '/healthz%20'),
  protectedRow('an encoded letter (an upstream may decode it to /healthz: fail closed)', '/%68ealthz'),
  protectedRow('a fullwidth letter, encoded', '/%EF%BD%88ealthz'),
  protectedRow('a prefix without a segment boundary', '/publicity'),
  protectedRow('dot-dot out of a prefix', '/public/../private'),
  protectedRow('dot and dot-dot out of a prefix', '/public/./../private'),
  protectedRow('absolute form naming the excluded path', 'http://guarded.localhost/healthz', 'RFC 9112 3.2.2; CWE-41'),
  { attack: 'asterisk form', target: '*', method: 'OPTIONS', reference: 'RFC 9112 3.2.4', expect: 'protected' },
];

describe('excludedPaths against path normalisation', { concurrency: true }, () => {
  let gw: SecurityGateway;
  before(async () => {
    gw = await startSecurityGateway();
  });
  after(() => gw?.close());

  rows.forEach(
    (row, n) =>
      void test(`${named(row)}: ${JSON.stringify(row.target)}`, row.todo ? { todo: row.todo } : {}, async () => {
        const answer = await rawExchange(
          gw.port,
          `${row.method ?? 'GET'} ${row.target} HTTP/1.1\r\nHost: guarded.localhost:${gw.port}\r\nX-Row: ${n}\r\nConnection: close\r\n\r\n`,
        );
        const reached = gw.received.filter((r) =>
          r.rawHeaders.some((value, i) => i % 2 === 1 && /^x-row$/i.test(r.rawHeaders[i - 1]!) && value === String(n)),
        );
        const [status] = statusesOf(answer);
        if (row.expect === 'protected') {
          assert.ok(status === 401 || status === 400, `answered ${status}`);
          assert.deepEqual(
            reached.map((r) => r.url),
            [],
            'the upstream was reached without authentication',
          );
          return;
        }
        assert.equal(status, 200);
        assert.equal(reached.length, 1);
        // What the upstream serves is the excluded path itself, however it resolves the target.
        const served = new URL(reached[0]!.url, 'http://upstream').pathname;
        assert.ok(served === '/healthz' || served.startsWith('/public/'), `the upstream serves ${served}`);
        assert.equal(reached[0]!.url, row.target, 'forwarded as matched');
      }),
  );

  test('a WebSocket upgrade to "/healthz/../private" needs authentication too [CWE-22]', async () => {
    const answer = await rawExchange(
      gw.port,
      `GET /healthz/../private HTTP/1.1\r\nHost: guarded.localhost:${gw.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.deepEqual(statusesOf(answer), [401]);
  });
});
