// Group and role memberships of an account from every source (README, "Groups"): SignOnce's own
// groups, and what each provider the account has an identity and tokens at says (its `readGroups`:
// ID token claims, Microsoft Graph, GitHub organisations and teams). What a provider said is kept
// in the store with the time it was read: used as it is while younger than `groups.refreshAfter`,
// used and read again in the background while younger than `groups.maxAge`, and read before use
// once older (or never read). When that fails, the source is named in `unavailable`, and rules
// that need groups refuse (fail closed).
import type { Config } from '../config/index.ts';
import type { Provider } from '../providers/index.ts';
import { RefreshError, expiringWithin, refreshSettingsOf, type TokenRefresher } from '../refresh/refresher.ts';
import type { GroupsAndRoles, ProviderGroups, ProviderTokens, Store } from '../store/index.ts';
import type { Memberships } from './types.ts';

export interface MembershipReaderDeps {
  readonly store: Store;
  /** The configured providers by id (createProviders). */
  readonly providers: ReadonlyMap<string, Provider>;
  /** Refreshes a provider's tokens before they are used when they expire within its `refresh.ahead`. */
  readonly refresher: TokenRefresher;
  readonly config: Pick<Config, 'groups' | 'providers'>;
  /** Milliseconds since the epoch; replaceable so tests can move time. */
  readonly now?: () => number;
  /** Told of every source that could not be read (never with a token). */
  readonly log: { warn(details: object, message: string): void };
}

export class MembershipReader {
  readonly #store: Store;
  readonly #providers: ReadonlyMap<string, Provider>;
  readonly #refresher: TokenRefresher;
  readonly #config: MembershipReaderDeps['config'];
  readonly #now: () => number;
  readonly #log: MembershipReaderDeps['log'];
  /** Reads from a provider in progress, by account and provider: concurrent callers share one. */
  readonly #reading = new Map<string, Promise<GroupsAndRoles>>();

  constructor(deps: MembershipReaderDeps) {
    this.#store = deps.store;
    this.#providers = deps.providers;
    this.#refresher = deps.refresher;
    this.#config = deps.config;
    this.#now = deps.now ?? (() => Date.now());
    this.#log = deps.log;
  }

  /**
   * The account's memberships now: its SignOnce groups, and those of every provider it has an
   * identity and stored tokens at whose provider can tell them. Never throws for a provider that
   * cannot be read: that is in `unavailable`.
   */
  async read(accountId: string): Promise<Memberships> {
    const [own, identities, kept, tokens] = await Promise.all([
      this.#store.groupsOf(accountId),
      this.#store.listIdentities(accountId),
      this.#store.listProviderGroups(accountId),
      this.#store.listTokens(accountId),
    ]);
    // A source is a provider the account has an identity at and either tokens to read it with or
    // memberships read before: when the tokens are gone (signed out elsewhere, grant revoked), what
    // was read is used until too old, then the source is unavailable — never silently dropped,
    // which could let the account past a deny rule on those groups.
    const readable = new Set([
      ...tokens.filter((t) => t.resource === '').map((t) => t.provider),
      ...kept.map((k) => k.provider),
    ]);
    const sources = [...new Set(identities.map((i) => i.provider))].filter(
      (id) => readable.has(id) && this.#providers.get(id)?.readGroups,
    );
    const groups = new Set(own);
    const roles = new Set<string>();
    const unavailable: string[] = [];
    await Promise.all(
      sources.map(async (providerId) => {
        const found = await this.#memberships(
          accountId,
          providerId,
          kept.find((k) => k.provider === providerId),
        );
        if (typeof found === 'string') return void unavailable.push(found);
        for (const group of found.groups) groups.add(group);
        for (const role of found.roles) roles.add(role);
      }),
    );
    return { groups, roles, unavailable: unavailable.sort() };
  }

  /**
   * Right after a sign-in: what the provider says of the account, read with the sign-in's own
   * tokens and kept. Best effort: a failure is logged, and the next `read` tries again.
   */
  async recordSignIn(accountId: string, providerId: string, tokens: ProviderTokens): Promise<void> {
    const provider = this.#providers.get(providerId);
    if (!provider?.readGroups) return;
    try {
      await this.#store.putProviderGroups(accountId, providerId, await provider.readGroups(tokens));
    } catch (error) {
      this.#failed(accountId, provider, error);
    }
  }

  /** Resolves once no read from a provider is in progress (background ones included). */
  async idle(): Promise<void> {
    while (this.#reading.size) await Promise.allSettled([...this.#reading.values()]);
  }

  /** One provider's memberships as `read` uses them, or why there are none (plain words). */
  async #memberships(
    accountId: string,
    providerId: string,
    kept: ProviderGroups | undefined,
  ): Promise<GroupsAndRoles | string> {
    const { refreshAfter, maxAge } = this.#config.groups;
    const age = kept ? this.#now() - kept.readAt : Number.POSITIVE_INFINITY;
    if (kept && age < maxAge) {
      if (age >= refreshAfter) this.#fromProvider(accountId, providerId).catch(() => undefined);
      return kept;
    }
    try {
      return await this.#fromProvider(accountId, providerId);
    } catch (error) {
      const provider = this.#providers.get(providerId)!;
      return `${provider.displayName} (${providerId}): ${messageOf(error)}${kept ? '; what was read before is too old (groups.maxAge)' : ''}`;
    }
  }

  /**
   * Reads the account's memberships from the provider now, with its stored tokens (refreshed
   * first when they expire within the provider's `refresh.ahead`), and keeps them; callers for
   * the same account and provider share one read. A failure is logged, then thrown.
   */
  #fromProvider(accountId: string, providerId: string): Promise<GroupsAndRoles> {
    const key = JSON.stringify([accountId, providerId]);
    let reading = this.#reading.get(key);
    if (!reading) {
      const provider = this.#providers.get(providerId)!;
      reading = (async () => {
        try {
          const memberships = await provider.readGroups!(await this.#tokens(accountId, provider));
          await this.#store.putProviderGroups(accountId, providerId, memberships);
          return memberships;
        } catch (error) {
          this.#failed(accountId, provider, error);
          throw error;
        }
      })().finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    return reading;
  }

  /** The sign-in tokens of the account at `provider`, refreshed ahead as a proxied request's are. */
  async #tokens(accountId: string, provider: Provider): Promise<ProviderTokens> {
    const ref = { accountId, provider: provider.id, resource: '' };
    const stored = await this.#store.getTokens(ref);
    if (!stored) throw new Error('no tokens are stored for this account');
    const need = expiringWithin(refreshSettingsOf(this.#config, provider.id).ahead);
    if (!stored.tokens.refreshToken || !provider.refresh || !need(stored.tokens, this.#now())) return stored.tokens;
    try {
      return (await this.#refresher.refreshAhead(ref, provider, need)).tokens;
    } catch (error) {
      // Refused: the tokens were removed, and none is left to read with. Otherwise the access token
      // stored may still work: the provider's answer tells.
      if (error instanceof RefreshError && error.failure !== 'refused') return stored.tokens;
      throw error;
    }
  }

  #failed(accountId: string, provider: Provider, error: unknown): void {
    this.#log.warn(
      { account: accountId, provider: provider.id, reason: messageOf(error) },
      'the groups of an account could not be read from its provider',
    );
  }
}

/** An error's message alone: never its cause, which may hold a request with its token. */
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
