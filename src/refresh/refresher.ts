// Refreshing provider tokens, once per (account, provider, resource) at a time. Within a process,
// concurrent callers share one refresh (one promise); across instances, the store's lock makes
// them wait for it (PostgreSQL). After the lock, the stored tokens are read again: if they are
// no longer the ones the caller saw, someone refreshed already and no call goes to the provider.
// Rotated refresh tokens are written in the same transaction the lock belongs to, before anyone
// is answered; a process dying between the provider's answer and that commit loses the rotation
// (the window is one local write; providers with a reuse grace, such as oidc-provider, cover it).
import type { Provider } from '../providers/index.ts';
import { ProviderError } from '../providers/index.ts';
import type { ProviderTokens, Store, StoredTokens, TokenRef } from '../store/index.ts';

export type RefreshFailure =
  /** Nothing stored, or no refresh token: sign in again (asking for offline access). */
  | 'no-refresh-token'
  /** The provider refused the grant (revoked, expired, reused): the tokens were removed. */
  | 'refused'
  /** The provider could not be reached or answered nonsense: the tokens are untouched. */
  | 'unreachable' | 'invalid-response';

export class RefreshError extends Error {
  readonly failure: RefreshFailure;
  constructor(failure: RefreshFailure, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RefreshError';
    this.failure = failure;
  }
}

/**
 * Calls that come within this long of a refresh share its result instead of refreshing again:
 * a burst of requests (or a client hammering /.auth/refresh) costs the provider one grant.
 */
const REFRESH_COALESCE_MS = 5000;

/** When the tokens as stored now (re-read under the lock) still need the refresh. */
export type RefreshNeeded = (tokens: ProviderTokens, now: number) => boolean;

/** For /.auth/refresh: unless another caller refreshed since `seen` was read, or within REFRESH_COALESCE_MS. */
export const unlessRefreshedSince = (seen: string | undefined): RefreshNeeded => (tokens, now) =>
  tokens.accessToken === seen && !(tokens.refreshedAt !== undefined && now - tokens.refreshedAt < REFRESH_COALESCE_MS);

/** Before a proxied request: while the access token expires within `aheadMs`. */
export const expiringWithin = (aheadMs: number): RefreshNeeded => (tokens, now) =>
  tokens.expiresAt !== undefined && tokens.expiresAt - now < aheadMs;

/**
 * After a refresh ahead failed because the provider was unreachable or answered nonsense, further
 * refreshes ahead of the same tokens wait this long: requests go on at once meanwhile instead of
 * each waiting for a provider that hangs.
 */
export const AHEAD_RETRY_AFTER_MS = 30_000;

export class TokenRefresher {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<StoredTokens>>();
  readonly #failedUntil = new Map<string, number>();

  constructor(store: Store, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * Fresh tokens for `ref`: refreshed with `provider` if, as stored once the lock is held, they
   * still `need` it; otherwise as stored (someone refreshed meanwhile). Callers arriving while a
   * refresh of the same tokens runs in this process share it. Throws RefreshError.
   */
  refresh(ref: TokenRef, provider: Provider, need: RefreshNeeded): Promise<StoredTokens> {
    const key = JSON.stringify([ref.accountId, ref.provider, ref.resource]);
    let running = this.#inFlight.get(key);
    if (!running) {
      running = this.#refresh(ref, provider, need).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, running);
    }
    return running;
  }

  /**
   * `refresh`, for refreshing ahead of expiry: after a failure of the provider, it is not asked
   * again for AHEAD_RETRY_AFTER_MS (this throws RefreshError 'unreachable' at once instead).
   */
  async refreshAhead(ref: TokenRef, provider: Provider, need: RefreshNeeded): Promise<StoredTokens> {
    const key = JSON.stringify([ref.accountId, ref.provider, ref.resource]);
    const until = this.#failedUntil.get(key);
    if (until !== undefined && this.#now() < until) throw new RefreshError('unreachable', 'the provider failed moments ago; not asked again yet');
    try {
      const fresh = await this.refresh(ref, provider, need);
      this.#failedUntil.delete(key);
      return fresh;
    } catch (error) {
      if (error instanceof RefreshError && (error.failure === 'unreachable' || error.failure === 'invalid-response')) {
        this.#failedUntil.set(key, this.#now() + AHEAD_RETRY_AFTER_MS);
      }
      throw error;
    }
  }

  async #refresh(ref: TokenRef, provider: Provider, need: RefreshNeeded): Promise<StoredTokens> {
    if (!provider.refresh) throw new RefreshError('no-refresh-token', `${provider.displayName} has no token refresh`);
    let refused: ProviderError | undefined;
    const stored = await this.#store.changeTokens(ref, async (current) => {
      if (!current?.tokens.refreshToken) throw new RefreshError('no-refresh-token', 'no refresh token is stored for this sign-in');
      if (!need(current.tokens, this.#now())) return undefined;
      try {
        return { ...await provider.refresh!(current.tokens), refreshedAt: this.#now() };
      } catch (error) {
        const failure = ProviderError.from(error);
        if (failure.kind !== 'denied') throw new RefreshError(failure.kind, failure.message, { cause: error });
        // The grant is gone: these tokens will never work again.
        refused = failure;
        return null;
      }
    });
    if (refused) throw new RefreshError('refused', refused.message, { cause: refused });
    return stored!;
  }
}
