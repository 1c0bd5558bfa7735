import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignedInCache } from '../../src/session/signed-in-cache.ts';

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const session = (ref: string, accountId = `account-${ref}`, expiresAt = Number.MAX_SAFE_INTEGER) => ({
  ref,
  accountId,
  expiresAt,
});

test('an entry answers for its host and cookie only, until the TTL ends', () => {
  const time = clock();
  const cache = new SignedInCache<string>({ ttlMs: 1000, now: time.now });
  cache.set('app1.example', 'cookie-a', 'alice', session('s1'), cache.generation);
  const cases: Array<[string, string, string | undefined]> = [
    ['app1.example', 'cookie-a', 'alice'],
    ['app2.example', 'cookie-a', undefined],
    ['app1.example', 'cookie-b', undefined],
    ['app1.example', 'cookie-a ', undefined],
    ['app1.example\ncookie-a', '', undefined],
    ['', 'app1.example\ncookie-a', undefined],
  ];
  for (const [host, cookie, expected] of cases)
    assert.equal(cache.get(host, cookie), expected, JSON.stringify([host, cookie]));
  time.advance(999);
  assert.equal(cache.get('app1.example', 'cookie-a'), 'alice');
  time.advance(1);
  assert.equal(cache.get('app1.example', 'cookie-a'), undefined, 'gone at the TTL');
  assert.equal(cache.size, 0, 'and removed');
});

test('an entry never outlives its session', () => {
  const time = clock();
  const cache = new SignedInCache<string>({ ttlMs: 60_000, now: time.now });
  cache.set('h', 'c', 'alice', session('s1', 'a1', time.now() + 10), cache.generation);
  time.advance(10);
  assert.equal(cache.get('h', 'c'), undefined);
});

test('a TTL of 0 keeps nothing', () => {
  const cache = new SignedInCache<string>({ ttlMs: 0 });
  cache.set('h', 'c', 'alice', session('s1'), cache.generation);
  assert.equal(cache.get('h', 'c'), undefined);
  assert.equal(cache.size, 0);
});

test('forgetting a session or an account removes its entries on every host, and only those', () => {
  const cache = new SignedInCache<string>({ ttlMs: 1000 });
  cache.set('h1', 'c1', 'alice on h1', session('s1', 'alice'), cache.generation);
  cache.set('h2', 'c2', 'alice on h2', session('s1', 'alice'), cache.generation);
  cache.set('h1', 'c3', 'alice, another session', session('s2', 'alice'), cache.generation);
  cache.set('h1', 'c4', 'bob', session('s3', 'bob'), cache.generation);
  cache.forgetSession('s1');
  assert.deepEqual(
    [cache.get('h1', 'c1'), cache.get('h2', 'c2'), cache.get('h1', 'c3'), cache.get('h1', 'c4')],
    [undefined, undefined, 'alice, another session', 'bob'],
  );
  cache.forgetAccount('alice');
  assert.deepEqual([cache.get('h1', 'c3'), cache.get('h1', 'c4')], [undefined, 'bob']);
});

test('the number of entries is bounded: the oldest goes first', () => {
  const cache = new SignedInCache<number>({ ttlMs: 1000, maxEntries: 3 });
  for (let i = 0; i < 10; i++) cache.set('h', `c${i}`, i, session(`s${i}`), cache.generation);
  assert.equal(cache.size, 3);
  assert.deepEqual(
    [7, 8, 9].map((i) => cache.get('h', `c${i}`)),
    [7, 8, 9],
  );
  assert.equal(cache.get('h', 'c6'), undefined);
});

test('an answer read before an eviction is not kept: it may predate the change that caused it', () => {
  const cache = new SignedInCache<string>({ ttlMs: 1000 });
  const before = cache.generation;
  // Read (from the store) while another request signs the same user out, or anyone else's tokens change.
  cache.forgetSession('s9');
  cache.set('h', 'c', 'alice', session('s1'), before);
  assert.equal(cache.get('h', 'c'), undefined);
  cache.set('h', 'c', 'alice', session('s1'), cache.generation);
  assert.equal(cache.get('h', 'c'), 'alice', 'one read after it is');
});

test('while changes cannot be heard, nothing is answered from the cache, and nothing is kept', () => {
  const cache = new SignedInCache<string>({ ttlMs: 1000 });
  cache.set('h', 'c', 'alice', session('s1'), cache.generation);
  cache.deafen();
  assert.equal(cache.get('h', 'c'), undefined);
  cache.set('h', 'c', 'alice', session('s1'), cache.generation);
  assert.equal(cache.size, 0);
  cache.hear();
  cache.set('h', 'c', 'alice', session('s1'), cache.generation);
  assert.equal(cache.get('h', 'c'), 'alice');
});
