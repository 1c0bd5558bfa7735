// Properties of `excludedPaths` (isExcludedPath / canonicalPath), against small reference
// normalisers of how upstreams resolve a request path, not against the matcher's own rules:
// a target accepted as excluded resolves, in every one of those readings, to a path at or under
// the pattern (read the same way). Never throws, whatever the target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalPath } from '../../src/access/paths.ts';
import { isExcludedPath } from '../../src/gateway/rules/excluded-paths.ts';
import { Tally, anyString, params, soup } from './support.ts';

/** RFC 3986 section 5.2.4 remove_dot_segments, over a path that starts with "/". */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/').slice(1);
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (segment === '..') out.pop();
    if (segment === '.' || segment === '..') {
      if (last) out.push('');
    } else out.push(segment);
  }
  return `/${out.join('/')}`;
}

/**
 * How a lenient server reads a path: percent-decoded `rounds` times (an app behind a decoding proxy
 * decodes again; `unescape` also knows IIS's %u0000 form), cut at a decoded NUL, "?" or "#",
 * backslashes as slashes, `;parameters` dropped (Tomcat), slashes merged, dot segments removed.
 * Undefined when it would refuse the path (a malformed encoding).
 */
function lenient(path: string, rounds: number, decode: (s: string) => string): string | undefined {
  let p = path;
  for (let i = 0; i < rounds; i++) {
    try {
      p = decode(p);
    } catch {
      return undefined;
    }
  }
  p = p.split(/[\u0000?#]/, 1)[0]!.replaceAll('\\', '/');
  p = p
    .split('/')
    .map((segment) => segment.split(';', 1)[0])
    .join('/')
    .replace(/\/{2,}/g, '/');
  return removeDotSegments(p.startsWith('/') ? p : `/${p}`);
}

/** Every reading of a path an upstream might make; undefined entries are readings that refuse it. */
const READINGS: Record<string, (path: string) => string | undefined> = {
  'RFC 3986': (p) => removeDotSegments(p),
  'WHATWG URL': (p) => (URL.canParse(p, 'http://upstream') ? new URL(p, 'http://upstream').pathname : undefined),
  'decoded once': (p) => lenient(p, 1, decodeURIComponent),
  'decoded twice': (p) => lenient(p, 2, decodeURIComponent),
  'unescape (IIS %u)': (p) => lenient(p, 1, unescape),
};

const SEGMENTS = ['public', 'healthz', 'static', 'app.js', 'admin', 'a', 'x.css'];
// What path-confusion attacks are made of, raw and encoded (once and twice).
const TRICKS = [
  '/',
  '//',
  '.',
  '..',
  '%2e',
  '%2E',
  '.%2e',
  '%2e.',
  '%2f',
  '%2F',
  '%5c',
  '\\',
  ';',
  ';x=1',
  '%3b',
  '#',
  '%23',
  '?',
  '%3f',
  '%3F',
  '%00',
  '%',
  '%zz',
  '%25',
  '%252e',
  '%252f',
  '%u002e',
  '%u002f',
  '%c0%ae',
  '%20',
  ' ',
  '\t',
  '%09',
  'é',
  '%C3%A9',
  '%ef%bc%8e',
  '~',
  ...SEGMENTS,
];

const patternArb = fc
  .tuple(fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 2 }), fc.boolean())
  .map(([segments, prefix]) => `/${segments.join('/')}${prefix ? '/*' : ''}`);
// Targets that start as an excluded path and go on with segments, some of them tricks (few enough
// that many targets are excluded, where the property has something to check), or anything at all.
const pieceArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 1, arbitrary: soup(TRICKS, 3) },
);
const targetFor = (patterns: string[]) =>
  fc.oneof(
    fc
      .tuple(
        fc.constantFrom(...patterns),
        fc.array(pieceArb, { maxLength: 4 }),
        fc.constantFrom('', '/', '?x=/../admin'),
      )
      .map(
        ([pattern, pieces, end]) =>
          `${pattern.replace(/\/\*$/, '')}${pieces.map((piece) => `/${piece}`).join('')}${end}`,
      ),
    soup(TRICKS, 8).map((rest) => `/${rest}`),
    anyString(),
  );
const casesArb = fc
  .array(patternArb, { minLength: 1, maxLength: 3 })
  .chain((patterns) => fc.tuple(targetFor(patterns), fc.constant(patterns)));

/** Whether `path` is `pattern` (exact) or at or under it (`/base/*`), both read the same way. */
function within(reading: (p: string) => string | undefined, path: string, pattern: string): boolean {
  const prefix = pattern.endsWith('/*');
  const base = reading(prefix ? pattern.slice(0, -2) : pattern);
  const resolved = reading(path);
  if (base === undefined || resolved === undefined) return resolved === undefined; // a server that refuses the path serves nothing
  if (!prefix) return resolved === base;
  return resolved === base || resolved.startsWith(base.endsWith('/') ? base : `${base}/`);
}

test('isExcludedPath: an excluded target resolves under its pattern in every upstream reading', () => {
  const seen = new Tally();
  fc.assert(
    fc.property(casesArb, ([target, patterns]) => {
      const excluded = isExcludedPath(target, patterns);
      assert.equal(typeof excluded, 'boolean');
      const canonical = canonicalPath(target);
      if (canonical !== undefined)
        assert.equal(canonical, target.split('?', 1)[0], 'the path is the target before "?"');
      if (!excluded) return;
      seen.add('excluded');
      assert.ok(canonical !== undefined);
      const path = canonical;
      const matched = patterns.filter((pattern) =>
        Object.values(READINGS).every((reading) => within(reading, path, pattern)),
      );
      assert.ok(
        matched.length > 0,
        `${JSON.stringify(path)} leaves ${JSON.stringify(patterns)} in some reading: ${JSON.stringify(
          Object.fromEntries(Object.entries(READINGS).map(([name, reading]) => [name, reading(path)])),
        )}`,
      );
    }),
    params(2000),
  );
  assert.ok(seen.get('excluded') > 0);
});

test('excluded paths regressions found by the properties', () => {
  // Encoded twice: "%252e%252e" is "%2e%2e" to a proxy that decodes, and ".." to the app behind it.
  assert.equal(isExcludedPath('/healthz/%252e.', ['/healthz/*']), false, 'as shrunk: "/healthz/.." decoded twice');
  assert.equal(isExcludedPath('/public/%252e%252e/admin', ['/public/*']), false);
  assert.equal(isExcludedPath('/public/%252f..%252fadmin', ['/public/*']), false);
});
