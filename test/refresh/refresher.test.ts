// TokenRefresher over a real SQLite store, with a scripted provider (the provider's side of the
// protocol is tested against oidc-provider in refresh.test.ts; here, what SignOnce does around it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Keyring, generateKey } from '../../src/crypto/keyring.ts';
import { ProviderError, type Provider } from '../../src/providers/index.ts';
import { AHEAD_RETRY_AFTER_MS, RefreshError, TokenRefresher, expiringWithin } from '../../src/refresh/refresher.ts';
import { openStore, type ProviderTokens, type Store } from '../../src/store/index.ts';
import { tempDir } from '../support/tmp.ts';

let store: Store;
let remove: () => Promise<void>;
let clock = Date.UTC(2026, 10, 29, 12);

before(async () => {
  const temp = await tempDir();
  remove = temp.remove;
  store = await openStore(`sqlite:${join(temp.dir, 's.db')}`, { keyring: new Keyring([generateKey()]), now: () => clock });
});
after(async () => {
  await store?.close();
  await remove?.();
});

/** A provider whose refresh fails as an unreachable one does, or succeeds, as told; it counts calls. */
function scriptedProvider(outcome: { fail: boolean }) {
  let calls = 0;
  const provider = {
    id: 'p', type: 'oidc', displayName: 'P',
    begin: async () => { throw new Error('not used'); },
    complete: async () => { throw new Error('not used'); },
    async refresh(current: ProviderTokens): Promise<ProviderTokens> {
      calls++;
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
