import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRedirect } from '../../src/gateway/redirects.ts';

const allowed = ['myapp://easyauth.callback', 'https://partner.example.com/return', 'https://docs.example.com'];

test('accepted: same-host paths and listed external URLs', () => {
  for (const value of [
    '/', '/dashboard', '/a/b?x=1&y=%2F#frag', '/search?q=//not-a-host', '/%E2%9C%93', '/a%20b',
    'myapp://easyauth.callback', 'myapp://easyauth.callback#token=abc', 'myapp://easyauth.callback?x=1',
    'https://partner.example.com/return', 'https://partner.example.com/return/deeper?x=1', 'HTTPS://PARTNER.EXAMPLE.COM/return',
    'https://docs.example.com/', 'https://docs.example.com/any/path',
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
