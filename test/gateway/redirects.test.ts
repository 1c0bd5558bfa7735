import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRedirect, tokenTargetAllowed } from '../../src/gateway/rules/redirects.ts';

const allowed = ['myapp://easyauth.callback', 'https://partner.example.com/return', 'https://docs.example.com'];

test('accepted: same-host paths and listed external URLs', () => {
  for (const value of [
    '/',
    '/dashboard',
    '/a/b?x=1&y=%2F#frag',
    '/search?q=//not-a-host',
    '/%E2%9C%93',
    '/a%20b',
    'myapp://easyauth.callback',
    'myapp://easyauth.callback#token=abc',
    'myapp://easyauth.callback?x=1',
    'https://partner.example.com/return',
    'https://partner.example.com/return/deeper?x=1',
    'HTTPS://PARTNER.EXAMPLE.COM/return',
    'https://docs.example.com/',
    'https://docs.example.com/any/path',
  ]) {
    const decision = checkRedirect(value, allowed);
    assert.deepEqual(decision, { ok: true, location: value }, value);
  }
});

test('refused: the hostile table (open redirect tricks)', () => {
  const cases: Array<[string, string]> = [
    ['//evil.example', 'protocol-relative URL'],
    ['///evil.example', 'three slashes'],
    ['/\\evil.example', 'slash backslash: browsers read it as //'],
    ['\\\\evil.example', 'two backslashes'],
    ['/\t/evil.example', 'tab inside //, stripped by browsers'],
    ['/\n/evil.example', 'newline inside //'],
    ['/%2F/evil.example', 'encoded second slash'],
    ['/%2f%2fevil.example', 'encoded slashes, lower case'],
    ['%2F%2Fevil.example', 'fully encoded //'],
    ['/%5Cevil.example', 'encoded backslash'],
    ['/%255Cevil.example', 'double-encoded backslash'],
    ['/%252F%252Fevil.example', 'double-encoded slashes after the first'],
    ['/%25252F', 'too deeply encoded'],
    ['/.//evil.example', 'a dot segment before //: the browser removes it and the path is //evil.example'],
    ['/..//evil.example', 'a double-dot segment before //'],
    ['/a/..//evil.example', 'a segment undone by .. before //'],
    ['/%2e//evil.example', 'an encoded dot segment (WHATWG URL removes %2e too)'],
    ['/%2E%2E//evil.example', 'an encoded double-dot segment'],
    ['/.%2F/evil.example', 'a dot segment, then an encoded slash'],
    ['/./%2Fevil.example', 'a dot segment, then an encoded second slash'],
    ['/%E0%A4%A', 'malformed percent-encoding'],
    ['https:evil.example', 'scheme without //'],
    ['https:/evil.example', 'scheme with one slash'],
    ['https://evil.example', 'unlisted host'],
    ['https://evil.example/return', 'unlisted host, listed path'],
    ['https://partner.example.com.evil.example/return', 'listed host as a prefix of another'],
    ['https://partner.example.com@evil.example/return', 'credentials trick'],
    ['https://evil.example@partner.example.com/return', 'credentials on a listed host'],
    ['https://partner.example.com/returnx', 'listed path as a string prefix'],
    ['https://partner.example.com/other', 'listed host, other path'],
    ['http://partner.example.com/return', 'downgraded scheme'],
    ['https://partner.example.com:8443/return', 'other port'],
    ['myapp://easyauth.callback.evil', 'custom scheme, longer host'],
    ['otherapp://easyauth.callback', 'other custom scheme'],
    ['javascript:alert(1)', 'javascript:'],
    ['JavaScript://%0aalert(1)', 'javascript: with // and a newline'],
    ['data:text/html,<script>alert(1)</script>', 'data:'],
    ['evil.example', 'bare host name'],
    [' /dashboard', 'leading space'],
    ['\u0000/dashboard', 'leading NUL'],
    ['/dash\u2028board', 'unicode line separator'],
    ['', 'empty'],
    [`/${'a'.repeat(2048)}`, 'too long'],
  ];
  for (const [value, name] of cases) {
    assert.equal(checkRedirect(value, allowed).ok, false, `${name}: ${JSON.stringify(value)}`);
  }
});

test('nothing external is allowed when no external URL is listed', () => {
  assert.equal(checkRedirect('https://partner.example.com/return', []).ok, false);
  assert.equal(checkRedirect('/ok', []).ok, true);
});

test('token mode (#token= in the fragment): only at a URL the app lists, never any page of the app', () => {
  const origin = 'https://app1.example.com';
  const listed = ['myapp://easyauth.callback', 'https://app1.example.com/cb', 'https://partner.example.com/return'];
  const cases: Array<[string, boolean, string]> = [
    ['myapp://easyauth.callback', true, 'a listed app scheme'],
    ['myapp://easyauth.callback?x=1', true, 'a listed app scheme with a query'],
    ['/cb', true, 'a same-host path whose URL is listed'],
    ['/cb?state=1', true, 'the listed page with a query'],
    ['/cb/deeper', true, 'under the listed page'],
    ['https://app1.example.com/cb', true, 'the listed page as an absolute URL'],
    ['https://partner.example.com/return', true, 'a listed external page'],
    ['/', false, "the app's home page"],
    ['/any/page', false, 'any page of the app (its scripts read location.hash)'],
    ['/cbx', false, 'the listed path as a string prefix'],
    ['/cb/../admin', false, 'out of the listed page by dot segments'],
    ['/%2e%2e/admin', false, 'encoded dot segments'],
    ['/CB', false, 'paths are case-sensitive'],
  ];
  for (const [target, ok, name] of cases)
    assert.equal(tokenTargetAllowed(target, origin, listed), ok, `${name}: ${target}`);
  assert.equal(
    tokenTargetAllowed('/cb', 'http://app1.example.com', listed),
    false,
    'the listed page over another scheme',
  );
  assert.equal(
    tokenTargetAllowed('/cb', 'https://app2.example.com', listed),
    false,
    'the listed path on another app host',
  );
  assert.equal(tokenTargetAllowed('/cb', origin, []), false, 'nothing listed: no token mode');
});
