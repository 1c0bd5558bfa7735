// Properties of the headers SignOnce reads and writes on a proxied request:
// - readCookie finds the first cookie of a name in any Cookie header built from name=value pairs,
//   and never throws on any header at all;
// - forwardableHeaders drops every identity header (any case, "_" for "-"), every credential header
//   and SignOnce's own cookies, and keeps everything else in order: the oracle is how each header
//   was generated (its kind), not a second copy of the matching rules;
// - the X-MS-CLIENT-PRINCIPAL header built for any user is read back by signonce/verify exactly,
//   and parseClientPrincipal never throws and returns only well-shaped principals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { parseClientPrincipal } from 'signonce/verify';
import { forwardableHeaders, withoutCookies } from '../../src/gateway/rules/identity-headers.ts';
import { NAME_CLAIM_TYPE, ROLE_CLAIM_TYPE } from '../../src/providers/index.ts';
import { readCookie } from '../../src/session/cookies.ts';
import { principalHeaders, type SignedInIdentity } from '../../src/session/principal.ts';
import { Tally, anyString, params } from './support.ts';

const OWN = 'AppServiceAuthSession';
const OWN_COOKIES = new Set([OWN, 'SignOnceLogin']);

// Cookie names: SignOnce's, near misses of them, and other RFC 6265 tokens.
const cookieName = fc.oneof(
  fc.constantFrom(OWN, 'SignOnceLogin', 'appserviceauthsession', `${OWN}X`, `X${OWN}`, 'AppService', 'theme', 'a'),
  fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/),
);
// Cookie values: anything but ";" (which ends a pair), including "=" and spaces inside.
const cookieValue = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', '=', ' ', '"', ',', '%', '.', '/', '+', 'é'),
  maxLength: 12,
});
const pairs = fc.array(fc.tuple(cookieName, cookieValue, fc.constantFrom('', ' ', '  ')), { maxLength: 6 });
const cookieHeader = (list: Array<[string, string, string]>) =>
  list.map(([name, value, space]) => `${space}${name}=${value}`).join(';');

test('readCookie: the first value of the name in any Cookie header; never throws', () => {
  fc.assert(
    fc.property(pairs, cookieName, (list, name) => {
      const first = list.find(([n]) => n === name);
      assert.equal(readCookie(cookieHeader(list), name), first?.[1].trim());
    }),
    params(1000),
  );
  fc.assert(
    fc.property(fc.option(anyString(60), { nil: undefined }), anyString(10), (header, name) => {
      const value = readCookie(header, name);
      if (value !== undefined) assert.ok(!value.includes(';') && value === value.trim() && header!.includes(value));
    }),
    params(500),
  );
});

// Header spellings an app might read as an identity or credential header (prefix + any suffix).
const IDENTITY = [
  'X-MS-CLIENT-PRINCIPAL',
  'X-MS-CLIENT-PRINCIPAL-NAME',
  'X-MS-CLIENT-PRINCIPAL-ID',
  'X-MS-CLIENT-PRINCIPAL-IDP',
  'X-MS-TOKEN-AAD-ACCESS-TOKEN',
  'X-MS-TOKEN-GOOGLE-REFRESH-TOKEN',
  'X-SIGNONCE-TOKEN-GRAPH',
  'X-SIGNONCE-',
];
// Ordinary headers, including near misses of those.
const ORDINARY = [
  'Accept',
  'Host',
  'X-MS-REQUEST-ID',
  'X-Client-Principal',
  'X-MS-TOKENS',
  'X-SIGNONCETOKEN',
  'X-ZUMO-AUTHX',
  'Proxy-Authorization',
  'X-Forwarded-For',
  'User-Agent',
  'MS-CLIENT-PRINCIPAL',
];
/** Any case, and "-" written "_" anywhere (CGI-style frameworks read both alike). */
const respelled = (name: string) =>
  fc
    .tuple(
      fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }),
      fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }),
    )
    .map(([upper, underscore]) =>
      [...name]
        .map((c, i) => (c === '-' && underscore[i] ? '_' : upper[i] ? c.toUpperCase() : c.toLowerCase()))
        .join(''),
    );

type Kind = 'identity' | 'zumo' | 'authorization' | 'cookie' | 'ordinary';
const rawHeader = fc.oneof(
  fc
    .tuple(fc.constantFrom(...IDENTITY), fc.stringMatching(/^[A-Za-z0-9_-]{0,6}$/))
    .chain(([base, suffix]) => respelled(base + suffix))
    .map((name) => ['identity', name, 'forged', []] as const),
  respelled('X-ZUMO-AUTH').map((name) => ['zumo', name, 'a-token', []] as const),
  respelled('Authorization').map((name) => ['authorization', name, 'Bearer x', []] as const),
  fc.tuple(respelled('Cookie'), pairs).map(([name, list]) => ['cookie', name, cookieHeader(list), list] as const),
  fc
    .tuple(fc.constantFrom(...ORDINARY), fc.string({ maxLength: 8 }))
    .map(([name, value]) => ['ordinary', name, value, []] as const),
);

test("forwardableHeaders: identity and credential headers and SignOnce's cookies never reach the app; the rest does, in order", () => {
  const seen = new Tally();
  fc.assert(
    fc.property(fc.array(rawHeader, { maxLength: 10 }), fc.boolean(), (headers, authorizationIsOurs) => {
      const raw = headers.flatMap(([, name, value]) => [name, value]);
      const expected: Array<[string, string]> = [];
      for (const [kind, name, value, list] of headers as ReadonlyArray<
        readonly [Kind, string, string, ReadonlyArray<[string, string, string]>]
      >) {
        seen.add(kind);
        if (kind === 'identity' || kind === 'zumo' || (kind === 'authorization' && authorizationIsOurs)) continue;
        if (kind === 'cookie') {
          // The pairs the header was made of, less SignOnce's (spaces around a pair are not part of it).
          const kept = list
            .filter(([cookie]) => !OWN_COOKIES.has(cookie))
            .map(([cookie, v]) => `${cookie}=${v}`.trim());
          if (kept.length) expected.push([name, kept.join('; ')]);
          continue;
        }
        expected.push([name, value]);
      }
      assert.deepEqual(forwardableHeaders(raw, OWN_COOKIES, authorizationIsOurs), expected);
    }),
    params(1000),
  );
  assert.ok(seen.get('identity') > 0 && seen.get('cookie') > 0);
  // Any Cookie header at all: never throws, and no pair left names SignOnce's cookie.
  fc.assert(
    fc.property(anyString(60), (header) => {
      const rest = withoutCookies(header, OWN_COOKIES);
      assert.ok(rest === undefined || rest.split(';').every((pair) => !OWN_COOKIES.has(pair.split('=', 1)[0]!.trim())));
    }),
    params(500),
  );
});

const claimArb = fc.record({ typ: anyString(20), val: anyString(40) });
const userArb: fc.Arbitrary<SignedInIdentity> = fc.record({
  provider: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/), // a configured provider id
  subject: anyString(30),
  name: anyString(30),
  claims: fc.array(claimArb, { maxLength: 5 }),
});

test('principal headers: read back by signonce/verify exactly, whatever the claims', () => {
  fc.assert(
    fc.property(userArb, (user) => {
      const headers = principalHeaders(user);
      assert.deepEqual(parseClientPrincipal(headers['x-ms-client-principal']), {
        auth_typ: user.provider,
        claims: user.claims.map(({ typ, val }) => ({ typ, val })),
        name_typ: NAME_CLAIM_TYPE,
        role_typ: ROLE_CLAIM_TYPE,
      });
      assert.equal(headers['x-ms-client-principal-idp'], user.provider);
    }),
    params(1000),
  );
});

/** What an app reads from the name and id headers: their bytes as UTF-8, control characters shown as U+FFFD. */
const expectedText = (text: string) =>
  [...text].map((c) => (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(c) ? '\ufffd' : c)).join('');
const asUtf8 = (value: string) => Buffer.from(value, 'latin1').toString('utf8');
// Lone surrogates are not text: the WHATWG encoder, like any, writes them as U+FFFD.
const wellFormed = (text: string) => new TextDecoder().decode(new TextEncoder().encode(text));

test('principal headers: every value is one Node and undici can send, and carries the name and id as UTF-8', () => {
  fc.assert(
    fc.property(userArb, (user) => {
      const headers = principalHeaders(user);
      for (const [name, value] of Object.entries(headers)) validateHeaderValue(name, value);
      assert.equal(asUtf8(headers['x-ms-client-principal-name']!), wellFormed(expectedText(user.name)));
      assert.equal(asUtf8(headers['x-ms-client-principal-id']!), wellFormed(expectedText(user.subject)));
    }),
    params(500),
  );
});

test('principal headers regressions found by the properties: a name outside Latin-1, a control character', () => {
  for (const [name, expected] of [
    ['Łukasz', 'Łukasz'],
    ['\u0000', '\ufffd'],
    ['a\r\nX-Injected: 1', 'a\ufffd\ufffdX-Injected: 1'],
  ]) {
    const headers = principalHeaders({ provider: 'dev', subject: 'u1', name: name!, claims: [] });
    for (const [header, value] of Object.entries(headers)) validateHeaderValue(header, value);
    assert.equal(asUtf8(headers['x-ms-client-principal-name']!), expected);
  }
});

/** An independent check of the documented shape. */
const isPrincipal = (value: unknown) => {
  const p = value as Record<string, unknown>;
  return (
    typeof p === 'object' &&
    p !== null &&
    !Array.isArray(p) &&
    typeof p.auth_typ === 'string' &&
    typeof p.name_typ === 'string' &&
    typeof p.role_typ === 'string' &&
    Array.isArray(p.claims) &&
    p.claims.every(
      (c: unknown) =>
        typeof c === 'object' &&
        c !== null &&
        typeof (c as { typ: unknown }).typ === 'string' &&
        typeof (c as { val: unknown }).val === 'string',
    )
  );
};

test('parseClientPrincipal: never throws; a principal only from a well-shaped JSON object, with only its fields', () => {
  const seen = new Tally();
  // Mostly well-shaped, with a wrong type or a missing field here and there (undefined drops out of JSON).
  const field = fc.oneof(
    { weight: 8, arbitrary: anyString(10) },
    { weight: 1, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const claims = fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.record({ typ: field, val: field, more: fc.jsonValue() }), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
  const shaped = fc.record({ auth_typ: field, claims, name_typ: field, role_typ: field, extra: fc.jsonValue() });
  const headers = fc.oneof(
    anyString(80),
    fc.oneof(fc.jsonValue(), shaped).map((json) => Buffer.from(JSON.stringify(json) ?? '').toString('base64')),
    fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes).toString('base64')),
    fc.array(fc.string(), { maxLength: 2 }),
  );
  fc.assert(
    fc.property(headers, (header) => {
      const principal = parseClientPrincipal(header);
      if (principal === undefined) return;
      seen.add('parsed');
      const json: unknown = JSON.parse(Buffer.from(header as string, 'base64').toString('utf8'));
      assert.ok(isPrincipal(json));
      assert.deepEqual(principal, {
        auth_typ: (json as Record<string, unknown>).auth_typ,
        name_typ: (json as Record<string, unknown>).name_typ,
        role_typ: (json as Record<string, unknown>).role_typ,
        claims: (json as { claims: Array<{ typ: string; val: string }> }).claims.map(({ typ, val }) => ({ typ, val })),
      });
    }),
    params(1000),
  );
  assert.ok(seen.get('parsed') > 0);
});
