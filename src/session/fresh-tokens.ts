// The provider tokens a signed-in request carries, fresh: refreshed ahead of their expiry (each
// provider's `refresh.ahead`) before an app receives them, so apps never get a token about to
// lapse, and when they are next due (a cached answer must not carry them past then). What a failed
// refresh does is the provider's `refresh.onRefreshFailure`: proceed with what is stored, or 401.
import type { AppConfig, AppResource, Config } from '../config/index.ts';
import type { Provider } from '../providers/index.ts';
import { RefreshError, expiringWithin, refreshSettingsOf, type TokenRefresher } from '../refresh/refresher.ts';
import { resourceTarget, type ResourceTarget } from '../refresh/resources.ts';
import type { Store, StoredTokens } from '../store/index.ts';
import type { Refused } from './credentials.ts';
import { resourceHeaders } from './principal.ts';

export class FreshTokens {
  readonly #config: Config;
  readonly #store: Store;
  readonly #providers: ReadonlyMap<string, Provider>;
  readonly #refresher: TokenRefresher;

  constructor(deps: {
    config: Config;
    store: Store;
    providers: ReadonlyMap<string, Provider>;
    refresher: TokenRefresher;
  }) {
    this.#config = deps.config;
    this.#store = deps.store;
    this.#providers = deps.providers;
    this.#refresher = deps.refresher;
  }

  /**
   * The sign-in tokens an app is about to receive, refreshed first when they expire within the
   * provider's `refresh.ahead`. A failed refresh leaves them as they are (`proceed`) or refuses the
   * request (`401`), per the provider's configuration.
   */
  async forApp(stored: StoredTokens | undefined): Promise<StoredTokens | Refused | undefined> {
    const provider = stored && this.#providers.get(stored.provider);
    if (!stored?.tokens.refreshToken || !provider?.refresh) return stored;
    const { ahead, onRefreshFailure } = refreshSettingsOf(this.#config, stored.provider);
    const need = expiringWithin(ahead);
    if (!need(stored.tokens, Date.now())) return stored;
    try {
      return await this.#refresher.refreshAhead(stored, provider, need);
    } catch (error) {
      if (!(error instanceof RefreshError)) throw error;
      return onRefreshFailure === '401'
        ? { refused: `refresh-failed: ${error.failure}` }
        : error.failure === 'refused'
          ? undefined
          : stored;
    }
  }

  /**
   * The account's token for one of an app's `resources`: as stored while it does not expire
   * within the provider's `refresh.ahead`, else got (or refreshed) now with the sign-in's refresh
   * token. `ahead`: for a proxied request, after a provider failure not asked again for a while.
   * Throws RefreshError.
   */
  resourceToken(accountId: string, resource: AppResource, { ahead = false } = {}): Promise<StoredTokens> {
    return this.of(accountId, resource.provider, { target: resourceTarget(resource), ahead });
  }

  /**
   * The account's tokens at `providerId` (its sign-in's, or for a resource `target`), refreshed
   * first when they expire within the provider's `refresh.ahead`. Sign-in tokens that cannot be
   * refreshed are given as stored. Throws RefreshError.
   */
  async of(
    accountId: string,
    providerId: string,
    { target, ahead = false }: { target?: ResourceTarget; ahead?: boolean } = {},
  ): Promise<StoredTokens> {
    const provider = this.#providers.get(providerId);
    if (!provider) throw new RefreshError('no-refresh-token', `provider "${providerId}" is no longer configured`);
    const signIn = { accountId, provider: providerId, resource: '' };
    const need = expiringWithin(refreshSettingsOf(this.#config, providerId).ahead);
    const stored = await this.#store.getTokens({ ...signIn, resource: target?.key ?? '' });
    if (!target && !stored)
      throw new RefreshError('no-refresh-token', `no ${provider.displayName} tokens are stored for this account`);
    if (stored?.tokens.accessToken && !need(stored.tokens, Date.now())) return stored;
    if (!target && (!stored!.tokens.refreshToken || !provider.refresh)) return stored!;
    return ahead
      ? this.#refresher.refreshAhead(signIn, provider, need, target)
      : this.#refresher.refresh(signIn, provider, need, target);
  }

  /** When `stored` is due for a refresh ahead (a cached answer must not carry it past then). */
  refreshDue(stored: StoredTokens | undefined): number {
    const expiresAt = stored?.tokens.expiresAt;
    return expiresAt === undefined
      ? Number.POSITIVE_INFINITY
      : expiresAt - refreshSettingsOf(this.#config, stored!.provider).ahead;
  }

  /**
   * X-SIGNONCE-TOKEN-* headers of the app's resources with `inject`, and when the first of them is
   * due for a refresh. A token that cannot be got is left out (`proceed`: an unexpired one is
   * sent as it is) or refuses the request (`401`).
   */
  async resourceHeaders(
    accountId: string,
    appConfig: AppConfig,
  ): Promise<{ headers: Array<[string, string]>; due: number } | Refused> {
    const headers: Array<[string, string]> = [];
    let due = Number.POSITIVE_INFINITY;
    for (const resource of appConfig.resources) {
      if (!resource.inject) continue;
      let stored: StoredTokens | undefined;
      try {
        stored = await this.resourceToken(accountId, resource, { ahead: true });
      } catch (error) {
        if (!(error instanceof RefreshError)) throw error;
        if (refreshSettingsOf(this.#config, resource.provider).onRefreshFailure === '401')
          return { refused: `refresh-failed: ${error.failure}` };
        stored = await this.#store.getTokens({
          accountId,
          provider: resource.provider,
          resource: resourceTarget(resource).key,
        });
        if ((stored?.tokens.expiresAt ?? Number.POSITIVE_INFINITY) <= Date.now()) stored = undefined;
      }
      headers.push(...resourceHeaders(resource.alias, stored));
      due = Math.min(due, this.refreshDue(stored));
    }
    return { headers, due };
  }
}
