// Refreshing provider tokens, once per (account, provider, resource) at a time. Within a process,
// concurrent callers share one refresh (one promise); across instances, the store's lock makes
// them wait for it (PostgreSQL). After the lock, the stored tokens are read again: if they are
// no longer the ones the caller saw, someone refreshed already and no call goes to the provider.
// Rotated refresh tokens are written in the same transaction the lock belongs to, before anyone
// is answered; a process dying between the provider's answer and that commit loses the rotation
// (the window is one local write; providers with a reuse grace cover it).
//
// Grants, not callers, are what a provider pays for: before asking for one, the grant limit of
// (account, provider, resource) is taken — after the lock and the re-read, so callers served by
// another caller's refresh (in this process or another instance) never count. Over the limit, a
// caller is served the stored tokens while their access token works, else refused ('limited').
//
// Tokens for another resource (src/refresh/resources.ts) are got with the sign-in's refresh
// token, so they take the lock of the sign-in's tokens: a refresh token rotated by a resource's
// refresh is written back there before anyone else uses the old one.
import { CodedError } from '../errors/index.ts';
import type { Config } from '../config/index.ts';
import type { Provider } from '../providers/index.ts';
import { ProviderError, rememberReceived } from '../providers/index.ts';
import type { ProviderTokens, Store, StoredTokens, TokenRef } from '../store/index.ts';
import type { ResourceTarget } from './resources.ts';

const FAILED_KEYS_MAX = 100_000;

export type RefreshFailure =
  /** Nothing stored, or no refresh token: sign in again (asking for offline access). */
  | 'no-refresh-token'
  /** The provider refused the grant (revoked, expired, reused): the tokens were removed. */
  | 'refused'
  /** The provider could not be reached or answered nonsense: the tokens are untouched. */
  | 'unreachable'
  | 'invalid-response'
  /** Over the grant limit and no working access token stored: nothing was asked; retry after `retryAfterMs`. */
  | 'limited';

export class RefreshError extends CodedError {
  static readonly code = 'ERR_REFRESH_FAILED';
  readonly code = RefreshError.code;
  readonly failure: RefreshFailure;
  /** For 'limited': how long until the provider may be asked again. */
  readonly retryAfterMs: number | undefined;
  constructor(failure: RefreshFailure, message: string, options?: ErrorOptions & { retryAfterMs?: number }) {
    super(message, options);
    this.failure = failure;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export interface RefreshSettings {
  readonly ahead: number;
  readonly onRefreshFailure: 'proceed' | '401';
}
/** The schema's defaults, for providers configured without `refresh` (presets, and types with no refresh). */
const DEFAULT_REFRESH: RefreshSettings = { ahead: 5 * 60_000, onRefreshFailure: 'proceed' };

/** A provider's `refresh` settings (oidc, oauth2 and their presets have them). */
export function refreshSettingsOf(config: Pick<Config, 'providers'>, providerId: string): RefreshSettings {
  const settings = config.providers.find((p) => p.id === providerId);
  return (settings && 'refresh' in settings && settings.refresh) || DEFAULT_REFRESH;
}

/**
 * Calls that come within this long of a refresh share its result instead of refreshing again:
 * a burst of requests (or a client hammering /.auth/refresh) costs the provider one grant.
 */
const REFRESH_COALESCE_MS = 5000;

/** When the tokens as stored now (re-read under the lock) still need the refresh. */
export type RefreshNeeded = (tokens: ProviderTokens, now: number) => boolean;

/** For /.auth/refresh: unless another caller refreshed since `seen` was read, or within REFRESH_COALESCE_MS. */
export const unlessRefreshedSince =
  (seen: string | undefined): RefreshNeeded =>
  (tokens, now) =>
    tokens.accessToken === seen &&
    !(tokens.refreshedAt !== undefined && now - tokens.refreshedAt < REFRESH_COALESCE_MS);

/** Before a proxied request: while the access token expires within `aheadMs`. */
export const expiringWithin =
  (aheadMs: number): RefreshNeeded =>
  (tokens, now) =>
    tokens.expiresAt !== undefined && tokens.expiresAt - now < aheadMs;

/**
 * After a refresh ahead failed because the provider was unreachable or answered nonsense, further
 * refreshes ahead of the same tokens wait this long: requests go on at once meanwhile instead of
 * each waiting for a provider that hangs.
 */
export const AHEAD_RETRY_AFTER_MS = 30_000;

/**
 * What a refresh that needs a grant does, given how long the grant limit says to wait (0: not
 * limited): 'ask' the provider; over the limit, serve the 'stored' tokens while their access token
 * has not expired (the caller gets a token that works, the provider is not asked), else 'wait'.
 * A token without a known expiry counts as working, as everywhere else in SignOnce.
 */
export function grantDecision(
  stored: ProviderTokens | undefined,
  now: number,
  retryAfterMs: number,
): 'ask' | 'stored' | 'wait' {
  if (retryAfterMs <= 0) return 'ask';
  if (stored?.accessToken && (stored.expiresAt === undefined || stored.expiresAt > now)) return 'stored';
  return 'wait';
}

/**
 * Told of a refresh grant asked of `ref`'s provider (`ref.resource`: the target's key, '' for the
 * sign-in's own tokens) and how it ended; `reason`: the provider's words when it failed (never a token).
 */
export type RefreshAsked = (ref: TokenRef, outcome: 'ok' | RefreshFailure, reason?: string) => void;

export class TokenRefresher {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<StoredTokens>>();
  readonly #failedUntil = new Map<string, number>();

  readonly #asked: RefreshAsked;
  readonly #grantWait: (key: string) => number;

  /**
   * `asked`: told of every refresh grant asked of a provider, and its outcome (metrics, audit).
   * `grantWait`: takes one grant for a key of (account, provider, resource) from the grant limit,
   * answering 0, or how many milliseconds until one may be taken (a RateLimiter's `take`).
   */
  constructor(
    store: Store,
    now: () => number = () => Date.now(),
    asked: RefreshAsked = () => undefined,
    grantWait: (key: string) => number = () => 0,
  ) {
    this.#store = store;
    this.#now = now;
    this.#asked = asked;
    this.#grantWait = grantWait;
  }

  /**
   * Fresh tokens for `ref`: refreshed with `provider` if, as stored once the lock is held, they
   * still `need` it; otherwise as stored (someone refreshed meanwhile). With a `target`, `ref` is
   * the sign-in's tokens and the answer is the target's token, got when none is stored or it
   * `need`s it. Callers arriving while a refresh of the same tokens runs in this process share
   * it. Throws RefreshError.
   */
  refresh(ref: TokenRef, provider: Provider, need: RefreshNeeded, target?: ResourceTarget): Promise<StoredTokens> {
    const key = refreshKey(ref, target);
    let running = this.#inFlight.get(key);
    if (!running) {
      running = (
        target ? this.#refreshResource(ref, target, provider, need) : this.#refresh(ref, provider, need)
      ).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, running);
    }
    return running;
  }

  /**
   * `refresh`, for refreshing ahead of expiry: after a failure of the provider, it is not asked
   * again for AHEAD_RETRY_AFTER_MS (this throws RefreshError 'unreachable' at once instead).
   */
  async refreshAhead(
    ref: TokenRef,
    provider: Provider,
    need: RefreshNeeded,
    target?: ResourceTarget,
  ): Promise<StoredTokens> {
    const key = refreshKey(ref, target);
    const until = this.#failedUntil.get(key);
    if (until !== undefined && this.#now() < until)
      throw new RefreshError('unreachable', 'the provider failed moments ago; not asked again yet');
    try {
      const fresh = await this.refresh(ref, provider, need, target);
      this.#failedUntil.delete(key);
      return fresh;
    } catch (error) {
      if (error instanceof RefreshError && (error.failure === 'unreachable' || error.failure === 'invalid-response')) {
        // Bounded: past entries are dropped before the map outgrows FAILED_KEYS_MAX (an outage of
        // a provider marks each of its users once).
        if (this.#failedUntil.size >= FAILED_KEYS_MAX) {
          for (const [failed, until] of this.#failedUntil) if (until <= this.#now()) this.#failedUntil.delete(failed);
          if (this.#failedUntil.size >= FAILED_KEYS_MAX)
            this.#failedUntil.delete(this.#failedUntil.keys().next().value!);
        }
        this.#failedUntil.set(key, this.#now() + AHEAD_RETRY_AFTER_MS);
      }
      throw error;
    }
  }

  /**
   * Whether the provider is asked for `key`'s grant now (one is taken from the grant limit);
   * false when `stored` is served instead. Throws RefreshError 'limited' when neither.
   */
  #mayAsk(key: string, stored: ProviderTokens | undefined): boolean {
    const retryAfterMs = this.#grantWait(key);
    const decision = grantDecision(stored, this.#now(), retryAfterMs);
    if (decision === 'wait')
      throw new RefreshError('limited', 'too many refresh grants asked for these tokens lately', { retryAfterMs });
    return decision === 'ask';
  }

  async #refresh(ref: TokenRef, provider: Provider, need: RefreshNeeded): Promise<StoredTokens> {
    const stored = await this.#withRefreshToken(ref, provider, async (current, refresh) =>
      need(current.tokens, this.#now()) && this.#mayAsk(refreshKey(ref), current.tokens)
        ? { ...(await refresh()), refreshedAt: this.#now() }
        : undefined,
    );
    return stored!;
  }

  async #refreshResource(
    signIn: TokenRef,
    target: ResourceTarget,
    provider: Provider,
    need: RefreshNeeded,
  ): Promise<StoredTokens> {
    const ref = { ...signIn, resource: target.key };
    let obtained: StoredTokens | undefined;
    await this.#withRefreshToken(signIn, provider, async (current, refresh) => {
      obtained = await this.#store.getTokens(ref);
      if (obtained?.tokens.accessToken && !need(obtained.tokens, this.#now())) return undefined;
      if (!this.#mayAsk(refreshKey(signIn, target), obtained?.tokens)) return undefined;
      const fresh = await refresh(target);
      const now = this.#now();
      const tokens: ProviderTokens = {
        accessToken: fresh.accessToken,
        expiresAt: fresh.expiresAt,
        scope: fresh.scope,
        tokenType: fresh.tokenType,
        refreshedAt: now,
      };
      await this.#store.putTokens(ref, tokens);
      obtained = { ...ref, tokens, updatedAt: now };
      // The sign-in keeps its own access and ID tokens; only a rotated refresh token changes.
      return fresh.refreshToken === current.tokens.refreshToken
        ? undefined
        : { ...current.tokens, refreshToken: fresh.refreshToken };
    });
    return obtained!;
  }

  /**
   * Runs `change` under the lock of the sign-in's tokens `ref`, with a `refresh` that asks
   * `provider` with their refresh token. When the provider refuses the grant, the tokens will
   * never work again: every set of the provider for the account is deleted (RefreshError 'refused').
   */
  async #withRefreshToken(
    ref: TokenRef,
    provider: Provider,
    change: (
      current: StoredTokens,
      refresh: (target?: ResourceTarget) => Promise<ProviderTokens>,
    ) => Promise<ProviderTokens | undefined>,
  ): Promise<StoredTokens | undefined> {
    if (!provider.refresh) throw new RefreshError('no-refresh-token', `${provider.displayName} has no token refresh`);
    let refused: ProviderError | undefined;
    const stored = await this.#store.changeTokens(ref, async (current) => {
      if (!current?.tokens.refreshToken)
        throw new RefreshError('no-refresh-token', 'no refresh token is stored for this sign-in');
      const ask = async (target?: ResourceTarget) => {
        const asked = target ? { ...ref, resource: target.key } : ref;
        try {
          const fresh = await provider.refresh!(current.tokens, target);
          this.#asked(asked, 'ok');
          // A new ID token must never sign in through POST /.auth/login (src/providers/single-use.ts).
          await rememberReceived(this.#store, fresh, this.#now());
          return fresh;
        } catch (error) {
          const failure = ProviderError.from(error);
          this.#asked(asked, failure.kind === 'denied' ? 'refused' : failure.kind, failure.message);
          throw error;
        }
      };
      try {
        return await change(current, ask);
      } catch (error) {
        if (error instanceof RefreshError) throw error;
        const failure = ProviderError.from(error);
        if (failure.kind !== 'denied') throw new RefreshError(failure.kind, failure.message, { cause: error });
        refused = failure;
        return null;
      }
    });
    if (refused) {
      await this.#store.deleteTokens(ref.accountId, ref.provider);
      throw new RefreshError('refused', refused.message, { cause: refused });
    }
    return stored;
  }
}

const refreshKey = (ref: TokenRef, target?: ResourceTarget) =>
  JSON.stringify([ref.accountId, ref.provider, target?.key ?? ref.resource]);
