// The rules that make a client-directed sign-in's provider tokens single-use and fresh
// (src/providers/single-use.ts), and how a sign-in's tokens merge into those stored
// (src/store/merge-tokens.ts): pure functions, tables of hostile and ordinary inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ID_TOKEN_MAX_AGE_MS,
  OAUTH1_TOKEN_REMEMBERED_MS,
  idTokenStaleness,
  singleUseTokens,
} from '../../src/providers/single-use.ts';
import { mergedTokens } from '../../src/store/merge-tokens.ts';
import type { ProviderTokens } from '../../src/store/index.ts';

const NOW = Date.UTC(2030, 0, 1, 12);
const at = (offsetMs: number) => (NOW + offsetMs) / 1000;

test('idTokenStaleness: fresh within five minutes back and a minute ahead; anything else says why', () => {
  const rows: Array<[string, unknown, RegExp | undefined]> = [
    ['issued now', at(0), undefined],
    ['issued 4 min 59 s ago', at(-299_000), undefined],
    ['issued exactly 5 min ago', at(-300_000), undefined],
    [
      'issued 5 min 1 s ago',
      at(-301_000),
      /^id_token issued too long ago \(iat 2030-01-01T11:54:59\.000Z; at most 5 minutes\)$/,
    ],
    ['issued a year ago', at(-365 * 86_400_000), /too long ago/],
    ['issued 60 s ahead (clock skew)', at(60_000), undefined],
    ['issued 61 s ahead', at(61_000), /^id_token issued in the future \(iat 2030-01-01T12:01:01\.000Z\)$/],
    ['no iat', undefined, /^id_token has no iat/],
    ['iat a string', String(at(0)), /no iat/],
    ['iat NaN', Number.NaN, /no iat/],
    ['iat Infinity', Number.POSITIVE_INFINITY, /no iat/],
    ['iat null', null, /no iat/],
    ['fractional iat, fresh', at(-1500), undefined],
  ];
  for (const [name, iat, expected] of rows) {
    const reason = idTokenStaleness(iat, NOW);
    if (expected) assert.match(String(reason), expected, name);
    else assert.equal(reason, undefined, name);
  }
});

/** An unsigned JWT with `payload` (singleUseTokens reads, it does not verify: the provider did). */
const jwt = (payload: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

test('singleUseTokens: ID tokens until iat + 5 minutes while that is ahead, OAuth 1.0a tokens for 400 days, nothing else', () => {
  const fresh = jwt({ sub: 'a', iat: at(-60_000), exp: at(3_600_000) });
  const rows: Array<[string, ProviderTokens, Array<[string, string, number]>]> = [
    ['a fresh ID token', { idToken: fresh }, [['id_token', fresh, NOW - 60_000 + ID_TOKEN_MAX_AGE_MS]]],
    [
      'with an OAuth 2 access and refresh token: only the ID token',
      { idToken: fresh, accessToken: 'at', refreshToken: 'rt' },
      [['id_token', fresh, NOW - 60_000 + ID_TOKEN_MAX_AGE_MS]],
    ],
    [
      'an ID token past its five minutes: it can never sign in',
      { idToken: jwt({ sub: 'a', iat: at(-ID_TOKEN_MAX_AGE_MS) }) },
      [],
    ],
    ['an ID token without iat: it can never sign in', { idToken: jwt({ sub: 'a', exp: at(3_600_000) }) }, []],
    ['an ID token that is not a JWT', { idToken: 'not-a-jwt' }, []],
    [
      'an OAuth 1.0a token and secret',
      { accessToken: 'tok', accessTokenSecret: 'sec' },
      [['oauth1_access_token', 'tok', NOW + OAUTH1_TOKEN_REMEMBERED_MS]],
    ],
    ['an OAuth 2 access token alone', { accessToken: 'at', expiresAt: NOW }, []],
    ['nothing', {}, []],
  ];
  for (const [name, tokens, expected] of rows) {
    assert.deepEqual(
      singleUseTokens(tokens, NOW).map((t) => [t.kind, t.value, t.until]),
      expected,
      name,
    );
  }
});

test('mergedTokens: each kind brought replaces its own; nothing missing is removed', () => {
  const stored: ProviderTokens = {
    accessToken: 'a1',
    refreshToken: 'r1',
    idToken: 'i1',
    expiresAt: 1,
    scope: 's',
    tokenType: 'Bearer',
    refreshedAt: 2,
  };
  const rows: Array<[string, ProviderTokens | undefined, ProviderTokens, ProviderTokens]> = [
    ['only an ID token: access and refresh tokens stay', stored, { idToken: 'i2' }, { ...stored, idToken: 'i2' }],
    [
      'an access token without expiry: the old expiry, scope, type and refresh time go with the old token',
      stored,
      { idToken: 'i2', accessToken: 'a2' },
      { accessToken: 'a2', refreshToken: 'r1', idToken: 'i2' },
    ],
    [
      'a full response replaces all',
      stored,
      { accessToken: 'a3', refreshToken: 'r3', idToken: 'i3', expiresAt: 9, tokenType: 'Bearer' },
      { accessToken: 'a3', refreshToken: 'r3', idToken: 'i3', expiresAt: 9, tokenType: 'Bearer' },
    ],
    [
      'no refresh token in the answer: the stored one stays',
      stored,
      { accessToken: 'a4', expiresAt: 5 },
      { accessToken: 'a4', expiresAt: 5, refreshToken: 'r1', idToken: 'i1' },
    ],
    [
      'OAuth 1.0a: the secret goes with its token',
      { accessToken: 't1', accessTokenSecret: 's1' },
      { accessToken: 't2', accessTokenSecret: 's2' },
      { accessToken: 't2', accessTokenSecret: 's2' },
    ],
    [
      'an OAuth 2 access token over an OAuth 1.0a pair: the old secret goes',
      { accessToken: 't1', accessTokenSecret: 's1' },
      { accessToken: 'a' },
      { accessToken: 'a' },
    ],
    ['nothing stored', undefined, { idToken: 'i' }, { idToken: 'i' }],
    ['nothing brought', stored, {}, stored],
  ];
  for (const [name, before, brought, expected] of rows) assert.deepEqual(mergedTokens(before, brought), expected, name);
});
