// The WWW-Authenticate challenge of an app's 401 (src/gateway/rules/bearer-challenge.ts): RFC 6750
// section 3 (its quoted-string characters), RFC 9728 section 5.1 (resource_metadata); hostile
// refusal reasons never break out of their parameter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerChallenge, challengeText } from '../../src/gateway/rules/bearer-challenge.ts';

test('challengeText: only %x20-21 / %x23-5B / %x5D-7E survive (RFC 6750 section 3), at most 200 characters', () => {
  const rows: Array<[string, string]> = [
    ['expired', 'expired'],
    ['the "aud" claim is not accepted', "the 'aud' claim is not accepted"],
    ['a\\b', 'a/b'],
    ['"", error="none', "'', error='none"],
    ['line\r\nX-Injected: 1', 'line??X-Injected: 1'],
    ['tab\there', 'tab?here'],
    ['Łukasz', '?ukasz'],
    ['x'.repeat(300), 'x'.repeat(200)],
  ];
  for (const [text, expected] of rows) assert.equal(challengeText(text), expected, JSON.stringify(text));
});

test('bearerChallenge: realm; error and its description only with an error; resource_metadata when known', () => {
  const metadata = 'https://orders.example.com/.well-known/oauth-protected-resource';
  const rows: Array<[Parameters<typeof bearerChallenge>[0], string]> = [
    [{ realm: 'orders' }, 'Bearer realm="orders"'],
    [{ realm: 'orders', description: 'ignored without an error' }, 'Bearer realm="orders"'],
    [{ realm: 'orders', resourceMetadata: metadata }, `Bearer realm="orders", resource_metadata="${metadata}"`],
    [
      { realm: 'orders', error: 'invalid_token', description: 'the "aud" claim', resourceMetadata: metadata },
      `Bearer realm="orders", error="invalid_token", error_description="the 'aud' claim", resource_metadata="${metadata}"`,
    ],
    [{ realm: 'orders', error: 'invalid_token' }, 'Bearer realm="orders", error="invalid_token"'],
  ];
  for (const [challenge, expected] of rows) assert.equal(bearerChallenge(challenge), expected);
});
