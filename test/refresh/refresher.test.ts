// TokenRefresher over a real SQLite store, with a scripted provider (the provider's side of the
// protocol is tested against oidc-provider in refresh.test.ts; here, what SignOnce does around it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { ProviderError, type Provider } from '../../src/providers/index.ts';
import { RateLimiter } from '../../src/gateway/rate-limit.ts';
import {
  AHEAD_RETRY_AFTER_MS,
  RefreshError,
  TokenRefresher,
  expiringWithin,
  grantDecision,
  unlessRefreshedSince,
} from '../../src/refresh/refresher.ts';
import { openStore, type ProviderTokens, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

let store: Store;
let remove: () => Promise<void>;
let clock = Date.UTC(2026, 10, 29, 12);

before(async () => {
  const temp = await tempDir();
  remove = temp.remove;
  store = await openStore(`sqlite:${join(temp.dir, 's.db')}`, {
    keyring: new Keyring([generateKey()]),
    now: () => clock,
  });
});
after(async () => {
  await store?.close();
  await remove?.();
});

/**
 * A provider whose refresh fails as an unreachable one does, or succeeds, as told; it counts calls.
 * With `gate`, each refresh waits for it (a slow provider).
 */
function scriptedProvider(outcome: { fail: boolean }, gate?: Promise<void>) {
  let calls = 0;
  const provider = {
    id: 'p',
    type: 'oidc',
    displayName: 'P',
    begin: async () => {
      throw new Error('not used');
    },
    complete: async () => {
      throw new Error('not used');
    },
    async refresh(current: ProviderTokens): Promise<ProviderTokens> {
      calls++;
      await gate;
      if (outcome.fail) throw new ProviderError('unreachable', 'connect ETIMEDOUT');
      return { ...current, accessToken: `new-${calls}`, expiresAt: clock + 3_600_000 };
    },
  } satisfies Provider;
  return { provider, calls: () => calls };
}

test('refresh ahead: after the provider failed, it is not asked again for a while; then it is, and success clears that', async () => {
  const { account } = await store.resolveIdentity('p', 'backoff');
  const ref = { accountId: account.id, provider: 'p', resource: '' };
  await store.putTokens(ref, { accessToken: 'old', refreshToken: 'r', expiresAt: clock + 60_000 });
  const outcome = { fail: true };
  const { provider, calls } = scriptedProvider(outcome);
  const refresher = new TokenRefresher(store, () => clock);
  const need = expiringWithin(5 * 60_000);
  const unreachable = (e: unknown) => e instanceof RefreshError && e.failure === 'unreachable';

  await assert.rejects(refresher.refreshAhead(ref, provider, need), unreachable);
  await assert.rejects(refresher.refreshAhead(ref, provider, need), unreachable);
  assert.equal(calls(), 1, 'the second request did not wait for the provider again');
  assert.equal((await store.getTokens(ref))?.tokens.accessToken, 'old', 'the tokens are untouched');

  clock += AHEAD_RETRY_AFTER_MS;
  outcome.fail = false;
  assert.equal((await refresher.refreshAhead(ref, provider, need)).tokens.accessToken, 'new-2');
  assert.equal(calls(), 2);
  // An explicit /.auth/refresh is never held back by the back-off.
  outcome.fail = true;
  await store.putTokens(ref, { accessToken: 'old', refreshToken: 'r', expiresAt: clock + 60_000 });
  await assert.rejects(refresher.refreshAhead(ref, provider, need), unreachable);
  await assert.rejects(refresher.refresh(ref, provider, need), unreachable);
  assert.equal(calls(), 4);
});

test('grantDecision: over the grant limit, the stored tokens are served while their access token works, else the caller waits', () => {
  const now = 1_000_000;
  const cases: Array<[string, ProviderTokens | undefined, number, ReturnType<typeof grantDecision>]> = [
    // what, stored tokens, wait the grant limit says, decision
    ['within the limit: ask', { accessToken: 'a', expiresAt: now - 1 }, 0, 'ask'],
    ['within the limit, nothing stored yet (a first resource token): ask', undefined, 0, 'ask'],
    [
      'over it, the access token works another minute: served as stored',
      { accessToken: 'a', expiresAt: now + 60_000 },
      5000,
      'stored',
    ],
    [
      'over it, an access token of unknown lifetime: served as stored',
      { accessToken: 'a', refreshToken: 'r' },
      5000,
      'stored',
    ],
    ['over it, the access token expired: wait', { accessToken: 'a', expiresAt: now - 1 }, 5000, 'wait'],
    ['over it, expiring this very moment: wait', { accessToken: 'a', expiresAt: now }, 5000, 'wait'],
    ['over it, only a refresh token stored: wait', { accessToken: '', refreshToken: 'r' }, 5000, 'wait'],
    ['over it, nothing stored: wait', undefined, 5000, 'wait'],
  ];
  for (const [what, stored, wait, decision] of cases) assert.equal(grantDecision(stored, now, wait), decision, what);
});

test('the grant limit counts grants asked of the provider, not callers: over it, a working token is served, an expired one is refused with the wait', async () => {
  const { account } = await store.resolveIdentity('p', 'grant-limit');
  const ref = { accountId: account.id, provider: 'p', resource: '' };
  await store.putTokens(ref, { accessToken: 'old', refreshToken: 'r', expiresAt: clock + 60_000 });
  const { provider, calls } = scriptedProvider({ fail: false });
  const grants = new RateLimiter({ limit: 2, windowMs: 60_000 }, { now: () => clock });
  const refresher = new TokenRefresher(
    store,
    () => clock,
    undefined,
    (key) => grants.take(key),
  );
  const always = () => true;

  assert.equal((await refresher.refresh(ref, provider, always)).tokens.accessToken, 'new-1');
  assert.equal((await refresher.refresh(ref, provider, always)).tokens.accessToken, 'new-2');
  for (let i = 0; i < 10; i++)
    assert.equal(
      (await refresher.refresh(ref, provider, always)).tokens.accessToken,
      'new-2',
      'over the limit: as stored',
    );
  assert.equal(calls(), 2, 'two grants asked, for twelve callers');

  // The same limit spent, and the stored access token has expired (a provider's short-lived tokens).
  await store.putTokens(ref, { accessToken: 'lapsed', refreshToken: 'r', expiresAt: clock - 1 });
  await assert.rejects(
    refresher.refresh(ref, provider, always),
    (e: unknown) =>
      e instanceof RefreshError && e.failure === 'limited' && e.retryAfterMs! > 0 && e.retryAfterMs! <= 30_000,
  );
  assert.equal(calls(), 2, 'the provider was not asked');

  clock += 30_000; // one grant back
  assert.equal((await refresher.refresh(ref, provider, always)).tokens.accessToken, 'new-3');
  assert.equal(calls(), 3);
});

test("a caller that waited behind another instance's refresh is served its result and takes nothing from the grant limit", async () => {
  const { account } = await store.resolveIdentity('p', 'two-instances');
  const ref = { accountId: account.id, provider: 'p', resource: '' };
  await store.putTokens(ref, { accessToken: 'old', refreshToken: 'r', expiresAt: clock + 60_000 });
  let release!: () => void;
  const { provider, calls } = scriptedProvider(
    { fail: false },
    new Promise<void>((resolve) => {
      release = resolve;
    }),
  );
  // Two refreshers over one store: two instances sharing the store's lock (PostgreSQL's advisory lock in a cluster).
  const taken: string[][] = [[], []];
  const [one, two] = taken.map(
    (keys) =>
      new TokenRefresher(
        store,
        () => clock,
        undefined,
        (key) => {
          keys.push(key);
          return 0;
        },
      ),
  );
  const first = one!.refresh(ref, provider, unlessRefreshedSince('old'));
  while (calls() === 0) await new Promise((resolve) => setImmediate(resolve));
  const second = two!.refresh(ref, provider, unlessRefreshedSince('old'));
  release();
  assert.deepEqual([(await first).tokens.accessToken, (await second).tokens.accessToken], ['new-1', 'new-1']);
  assert.equal(calls(), 1);
  assert.deepEqual(
    taken.map((keys) => keys.length),
    [1, 0],
    'only the instance that asked the provider took a grant',
  );
});
