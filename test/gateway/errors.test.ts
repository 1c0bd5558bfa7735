// How the gateway answers errors (src/gateway/errors.ts), the one place that decides it: each coded
// error's status, headers and body; a page instead for browsers where the answer has one; and for
// anything else 503, telling nothing of the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { AccountDisabledError } from '../../src/accounts/accounts.ts';
import { ExternalTokenRefused, IssuerUnavailable } from '../../src/accounts/external-issuers.ts';
import { RefreshError } from '../../src/refresh/refresher.ts';
import { IdentityConflictError, LastIdentityError, StoreUnavailableError } from '../../src/store/index.ts';
import { answerError, errorAnswer, type ErrorAnswer } from '../../src/gateway/errors.ts';

const NO_STORE = { 'cache-control': 'no-store' };
const UNAVAILABLE: ErrorAnswer = {
  status: 503,
  page: {
    title: 'Service unavailable',
    text: 'SignOnce cannot serve this request right now. Please try again in a moment.',
  },
};

test('errorAnswer: each error, its answer', () => {
  const cases: Array<[unknown, ErrorAnswer]> = [
    [
      new RefreshError('no-refresh-token', 'nothing stored'),
      {
        status: 400,
        headers: NO_STORE,
        body: {
          error:
            'no refresh token is stored for this sign-in: sign in again with offline access (the offline_access scope, or access_type=offline at Google)',
          reason: 'no-refresh-token',
        },
      },
    ],
    [
      new RefreshError('refused', 'invalid_grant'),
      {
        status: 403,
        headers: NO_STORE,
        body: {
          error: 'the provider refused the refresh (consent revoked, or the grant expired): sign in again',
          reason: 'refused',
        },
      },
    ],
    [
      new RefreshError('unreachable', 'ECONNREFUSED'),
      {
        status: 503,
        headers: NO_STORE,
        body: {
          error: 'the provider could not be reached; the stored tokens are unchanged: try again later',
          reason: 'unreachable',
        },
      },
    ],
    [
      new RefreshError('invalid-response', 'no access_token'),
      {
        status: 502,
        headers: NO_STORE,
        body: {
          error: 'the provider answered something SignOnce could not accept; the stored tokens are unchanged',
          reason: 'invalid-response',
        },
      },
    ],
    // RFC 6585 section 4; Retry-After in whole seconds, rounded up, at least 1 (RFC 9110 section 10.2.3).
    [
      new RefreshError('limited', 'over the grant limit', { retryAfterMs: 1200 }),
      {
        status: 429,
        headers: { 'retry-after': '2', ...NO_STORE },
        body: { error: 'too many requests', reason: 'try again in 2 s' },
      },
    ],
    [
      new RefreshError('limited', 'over the grant limit'),
      {
        status: 429,
        headers: { 'retry-after': '1', ...NO_STORE },
        body: { error: 'too many requests', reason: 'try again in 1 s' },
      },
    ],
    [
      new AccountDisabledError('account-1'),
      {
        status: 401,
        headers: NO_STORE,
        body: { error: 'account_disabled', reason: 'This account is disabled. Ask an administrator.' },
        page: { title: 'Account disabled', text: 'This account is disabled. Ask an administrator.' },
      },
    ],
    [new ExternalTokenRefused('expired'), { status: 401, body: { error: 'invalid_token', reason: 'expired' } }],
    // The message (logged) may quote the issuer's answer; callers learn only that the keys failed.
    [
      new IssuerUnavailable('partner', 'the metadata at https://partner.example is not its own (status 500)'),
      {
        status: 502,
        body: { error: 'issuer_unavailable', reason: 'the keys of partner could not be fetched' },
      },
    ],
    [
      new IdentityConflictError('partner'),
      {
        status: 409,
        body: { error: 'already_linked', reason: 'this identity was linked to another account meanwhile' },
      },
    ],
    [
      new LastIdentityError(),
      {
        status: 409,
        body: {
          error: "this is the account's only identity: unlinking it would leave an account no one can sign in to",
        },
      },
    ],
    // An outage must not look like a sign-out (401): 503, sessions kept.
    [new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:5432'), UNAVAILABLE],
    [new Error('password=hunter2 in a connection string'), UNAVAILABLE],
    [new TypeError("Cannot read properties of undefined (reading 'x')"), UNAVAILABLE],
    ['a thrown string', UNAVAILABLE],
    [undefined, UNAVAILABLE],
  ];
  for (const [error, answer] of cases) assert.deepEqual(errorAnswer(error), answer, String(error));
});

/** A real server whose one route fails with `error`, answered by answerError. */
async function failingWith(error: unknown) {
  const app = Fastify({ logger: false });
  app.post('/', async (request, reply) => answerError(request, reply, error));
  app.get('/', async (request, reply) => answerError(request, reply, error));
  await app.ready();
  return app;
}

test('answerError: JSON for callers that sent JSON, a page for browsers, where the answer has both', async () => {
  const app = await failingWith(new AccountDisabledError('account-1'));
  const api = await app.inject({
    method: 'POST',
    url: '/',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(api.statusCode, 401);
  assert.equal(api.headers['cache-control'], 'no-store');
  assert.deepEqual(api.json(), {
    error: 'account_disabled',
    reason: 'This account is disabled. Ask an administrator.',
  });
  const browser = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
  assert.equal(browser.statusCode, 401);
  assert.match(String(browser.headers['content-type']), /^text\/html/);
  assert.match(browser.body, /Account disabled/);
  await app.close();
});

test('answerError: an answer with only a body is JSON, whatever the caller sent', async () => {
  const app = await failingWith(new LastIdentityError());
  const answer = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
  assert.equal(answer.statusCode, 409);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  await app.close();
});

test('answerError: an unknown failure is 503 and its message is never sent, even to a JSON caller', async () => {
  const secret = 'postgres://signonce:hunter2@db.internal/signonce';
  for (const error of [new Error(secret), new StoreUnavailableError(secret)]) {
    const app = await failingWith(error);
    const requests = [
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
      { method: 'GET', headers: { accept: 'text/html' } },
    ] as const;
    for (const request of requests) {
      const answer = await app.inject({ url: '/', ...request });
      assert.equal(answer.statusCode, 503);
      assert.match(answer.body, /Service unavailable/);
      assert.doesNotMatch(answer.body, /hunter2|db\.internal/);
    }
    await app.close();
  }
});
