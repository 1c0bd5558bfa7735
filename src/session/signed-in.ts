// Who a request on an app host is: by SignOnce's authentication token (X-ZUMO-AUTH, or a bearer
// token of its type) or else by the session cookie, with what the app learns of them. Resolved
// answers are kept briefly per instance (signed-in-cache.ts); the store's changes evict them.
import type { IncomingHttpHeaders } from 'node:http';
import type { AppConfig, AppResource, Config } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import {
  CLOCK_SKEW_SECONDS,
  TokenRefused,
  isAuthenticationTokenType,
  type AuthenticationClaims,
  type AuthenticationTokens,
} from './authentication-tokens.ts';
import { openSessionCookie, readCookie } from './cookies.ts';
import { principalHeaders, resourceHeaders, tokenHeaders, type SignedInIdentity } from './principal.ts';
import type { Provider } from '../providers/index.ts';
import { RefreshError, expiringWithin, type TokenRefresher } from '../refresh/refresher.ts';
import { resourceTarget, type ResourceTarget } from '../refresh/resources.ts';
import type { Session, Store, StoredTokens } from '../store/index.ts';
import { SignedInCache } from './signed-in-cache.ts';

/** Who a request on an app host is. */
export interface Identified {
  readonly session: Session;
  readonly user: SignedInIdentity;
  /** Authenticated by a token, not by the cookie (so not exposed to cross-site requests). */
  readonly byToken: boolean;
}

/** A request's session on an app host, with what the app learns of it. */
export interface SignedIn extends Identified {
  readonly tokens: StoredTokens | undefined;
  /**
   * X-MS-CLIENT-PRINCIPAL*; for apps with `tokenStore`, X-MS-TOKEN-*; for resources with
   * `inject`, X-SIGNONCE-TOKEN-{ALIAS} and X-SIGNONCE-TOKEN-{ALIAS}-EXPIRES-ON.
   */
  readonly identityHeaders: ReadonlyArray<[string, string]>;
}

/** A token was presented and is not accepted here: 401, whatever else the request carries. */
export interface Refused {
  readonly refused: string;
}

/** The token in `Authorization: Bearer <token>`, if that is the header's form. */
export const bearerToken = (authorization: string | undefined) => /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];

type Credential = { token: string } | { cookie: string };
const cacheKeyOf = (credential: Credential) =>
  'token' in credential ? `token:${credential.token}` : `cookie:${credential.cookie}`;

const DEFAULT_REFRESH = { ahead: 5 * 60_000, onRefreshFailure: 'proceed' } as const;

export class SignedInResolver {
  readonly #config: Config;
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #tokens: AuthenticationTokens;
  readonly #providers: ReadonlyMap<string, Provider>;
  readonly #refresher: TokenRefresher;
  readonly #recent: SignedInCache<SignedIn>;

  constructor(deps: {
    config: Config;
    store: Store;
    keyring: Keyring;
    authenticationTokens: AuthenticationTokens;
    providers: ReadonlyMap<string, Provider>;
    refresher: TokenRefresher;
  }) {
    this.#config = deps.config;
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#tokens = deps.authenticationTokens;
    this.#providers = deps.providers;
    this.#refresher = deps.refresher;
    this.#recent = new SignedInCache<SignedIn>({ ttlMs: deps.config.session.cacheTtl });
    deps.store.watch((change) => {
      if (change.kind === 'session-ended') this.#recent.forgetSession(change.ref);
      else if (change.kind === 'account-changed') this.#recent.forgetAccount(change.accountId);
      else if (change.kind === 'deaf') this.#recent.deafen();
      else if (change.kind === 'hearing') this.#recent.hear();
    });
  }

  /** The provider's `refresh` settings (oidc, oauth2 and their presets have them). */
  #refreshSettings(providerId: string): { ahead: number; onRefreshFailure: 'proceed' | '401' } {
    const settings = this.#config.providers.find((p) => p.id === providerId);
    return (settings && 'refresh' in settings && settings.refresh) || DEFAULT_REFRESH;
  }

  /**
   * The tokens an app is about to receive, refreshed first when they expire within the provider's
   * `refresh.ahead` (so apps never get a token about to lapse). A failed refresh leaves them as
   * they are (`proceed`) or refuses the request (`401`), per the provider's configuration.
   */
  async #fresh(stored: StoredTokens | undefined): Promise<StoredTokens | Refused | undefined> {
    const provider = stored && this.#providers.get(stored.provider);
    if (!stored?.tokens.refreshToken || !provider?.refresh) return stored;
    const { ahead, onRefreshFailure } = this.#refreshSettings(stored.provider);
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
    return this.freshTokens(accountId, resource.provider, { target: resourceTarget(resource), ahead });
  }

  /**
   * The account's tokens at `providerId` (its sign-in's, or for a resource `target`), refreshed
   * first when they expire within the provider's `refresh.ahead`. Sign-in tokens that cannot be
   * refreshed are given as stored. Throws RefreshError.
   */
  async freshTokens(
    accountId: string,
    providerId: string,
    { target, ahead = false }: { target?: ResourceTarget; ahead?: boolean } = {},
  ): Promise<StoredTokens> {
    const provider = this.#providers.get(providerId);
    if (!provider) throw new RefreshError('no-refresh-token', `provider "${providerId}" is no longer configured`);
    const signIn = { accountId, provider: providerId, resource: '' };
    const need = expiringWithin(this.#refreshSettings(providerId).ahead);
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
  #refreshDue(stored: StoredTokens | undefined): number {
    const expiresAt = stored?.tokens.expiresAt;
    return expiresAt === undefined
      ? Number.POSITIVE_INFINITY
      : expiresAt - this.#refreshSettings(stored!.provider).ahead;
  }

  /**
   * X-SIGNONCE-TOKEN-* headers of the app's resources with `inject`, and when the first of them is
   * due for a refresh. A token that cannot be got is left out (`proceed`: an unexpired one is
   * sent as it is) or refuses the request (`401`).
   */
  async #resourceHeaders(
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
        if (this.#refreshSettings(resource.provider).onRefreshFailure === '401')
          return { refused: `refresh-failed: ${error.failure}` };
        stored = await this.#store.getTokens({
          accountId,
          provider: resource.provider,
          resource: resourceTarget(resource).key,
        });
        if ((stored?.tokens.expiresAt ?? Number.POSITIVE_INFINITY) <= Date.now()) stored = undefined;
      }
      headers.push(...resourceHeaders(resource.alias, stored));
      due = Math.min(due, this.#refreshDue(stored));
    }
    return { headers, due };
  }

  /** What a request presents: SignOnce's token (X-ZUMO-AUTH, or a bearer token of its type), else its cookie. */
  credentialOf(headers: IncomingHttpHeaders): Credential | undefined {
    const zumo = headers['x-zumo-auth'];
    if (typeof zumo === 'string') return { token: zumo.trim() };
    const bearer = bearerToken(headers.authorization);
    if (bearer && isAuthenticationTokenType(bearer)) return { token: bearer };
    const cookie = readCookie(headers.cookie, this.#config.session.cookieName);
    return cookie ? { cookie } : undefined;
  }

  /**
   * The claims and live session of a token accepted by this app (its own, or one of an app it
   * trusts). With `expiredGraceMs` (the /.auth/refresh grace, only there), also a token and
   * session expired at most that long ago.
   */
  async sessionOfToken(
    token: string,
    appConfig: AppConfig,
    expiredGraceMs = 0,
  ): Promise<{ claims: AuthenticationClaims; session: Session } | Refused> {
    let claims;
    try {
      claims = await this.#tokens.verify(token, [appConfig.id, ...appConfig.acceptTokensFrom], expiredGraceMs / 1000);
    } catch (error) {
      if (error instanceof TokenRefused) return { refused: error.reason };
      throw error;
    }
    // A token works while its session lives: a sign-out ends the tokens issued for it too.
    const session = await this.#store.getSessionByRef(claims.sid, expiredGraceMs);
    if (!session || session.accountId !== claims.sub) return { refused: 'session-ended' };
    return { claims, session };
  }

  /**
   * Who a request on an app host is (its session and user, by its token or cookie), without the
   * tokens and headers an app gets: for SignOnce's own endpoints, which must not refresh tokens
   * ahead of time (a sign-out would refresh tokens it then deletes). `expiredGraceMs` accepts a
   * recently expired token (see sessionOfToken).
   */
  async identify(
    request: { headers: IncomingHttpHeaders },
    appConfig: AppConfig,
    host: string,
    expiredGraceMs = 0,
  ): Promise<Identified | Refused | undefined> {
    const credential = this.credentialOf(request.headers);
    if (!credential) return undefined;
    return (
      this.#recent.get(host, cacheKeyOf(credential)) ?? this.#identify(credential, appConfig, host, expiredGraceMs)
    );
  }

  async #identify(
    credential: Credential,
    appConfig: AppConfig,
    host: string,
    expiredGraceMs: number,
  ): Promise<(Identified & { until: number }) | Refused | undefined> {
    if ('token' in credential) {
      const found = await this.sessionOfToken(credential.token, appConfig, expiredGraceMs);
      if ('refused' in found) return found;
      const { session } = found;
      return {
        session,
        user: session.data.user as SignedInIdentity,
        byToken: true,
        until: (found.claims.exp + CLOCK_SKEW_SECONDS) * 1000,
      };
    }
    const secret = openSessionCookie(this.#keyring, credential.cookie, host);
    const session = secret ? await this.#store.getSession(secret) : undefined;
    return (
      session && {
        session,
        user: session.data.user as SignedInIdentity,
        byToken: false,
        until: Number.POSITIVE_INFINITY,
      }
    );
  }

  /** Who a request on an app host is, with what the app learns of them; undefined when there is none. */
  async resolve(
    request: { headers: IncomingHttpHeaders },
    appConfig: AppConfig,
    host: string,
  ): Promise<SignedIn | Refused | undefined> {
    const credential = this.credentialOf(request.headers);
    if (!credential) return undefined;
    const cacheKey = cacheKeyOf(credential);
    const cached = this.#recent.get(host, cacheKey);
    if (cached) return cached;
    const generation = this.#recent.generation;
    const who = await this.#identify(credential, appConfig, host, 0);
    if (!who || 'refused' in who) return who;
    const { session, user, byToken, until } = who;
    const fresh = appConfig.tokenStore
      ? await this.#fresh(
          await this.#store.getTokens({ accountId: session.accountId, provider: user.provider, resource: '' }),
        )
      : undefined;
    if (fresh && 'refused' in fresh) return fresh;
    const tokens = fresh;
    const resources = appConfig.resources.length
      ? await this.#resourceHeaders(session.accountId, appConfig)
      : { headers: [], due: Number.POSITIVE_INFINITY };
    if ('refused' in resources) return resources;
    const identityHeaders = [
      ...Object.entries(principalHeaders(user)),
      ...Object.entries(tokens ? tokenHeaders(tokens, appConfig.exposeRefreshTokens) : {}),
      ...resources.headers,
    ];
    const resolved: SignedIn = { session, user, tokens, identityHeaders, byToken };
    // Kept until the session or token ends, or a token it carries is due for a refresh ahead.
    const keepUntil = Math.min(session.expiresAt, until, this.#refreshDue(tokens), resources.due);
    this.#recent.set(host, cacheKey, resolved, { ...session, expiresAt: keepUntil }, generation);
    return resolved;
  }
}
