// Who a request on an app host is: by SignOnce's authentication token (X-ZUMO-AUTH, or a bearer
// token of its type) or else by the session cookie (credentials.ts), with what the app learns of
// them, its provider tokens fresh (fresh-tokens.ts). Resolved answers are kept briefly per
// instance (signed-in-cache.ts); the store's changes evict them.
import type { IncomingHttpHeaders } from 'node:http';
import type { AccessControl } from '../access/control.ts';
import type { AccessSubject } from '../access/types.ts';
import type { AppConfig, Config } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { CLOCK_SKEW_SECONDS, type AuthenticationTokens } from './authentication-tokens.ts';
import {
  cacheKeyOf,
  credentialOf,
  sessionOfCookie,
  sessionOfToken,
  type Credential,
  type Refused,
} from './credentials.ts';
import type { FreshTokens } from './fresh-tokens.ts';
import { principalHeaders, tokenHeaders, type SignedInIdentity } from './principal.ts';
import type { Session, Store, StoredTokens } from '../store/index.ts';
import { SignedInCache } from './signed-in-cache.ts';

export type { Refused } from './credentials.ts';

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
  /** Who asks, as the app's access rules read it (memberships only when they read groups or roles). */
  readonly subject: AccessSubject;
}

export class SignedInResolver {
  readonly #config: Config;
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #tokens: AuthenticationTokens;
  readonly #fresh: FreshTokens;
  readonly #access: AccessControl;
  readonly #recent: SignedInCache<SignedIn>;

  constructor(deps: {
    config: Config;
    store: Store;
    keyring: Keyring;
    authenticationTokens: AuthenticationTokens;
    freshTokens: FreshTokens;
    access: AccessControl;
  }) {
    this.#config = deps.config;
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#tokens = deps.authenticationTokens;
    this.#fresh = deps.freshTokens;
    this.#access = deps.access;
    this.#recent = new SignedInCache<SignedIn>({ ttlMs: deps.config.session.cacheTtl });
    deps.store.watch((change) => {
      if (change.kind === 'session-ended') this.#recent.forgetSession(change.ref);
      else if (change.kind === 'account-changed') this.#recent.forgetAccount(change.accountId);
      else if (change.kind === 'deaf') this.#recent.deafen();
      else if (change.kind === 'hearing') this.#recent.hear();
    });
  }

  /**
   * Who a request on an app host is (its session and user, by its token or cookie), without the
   * tokens and headers an app gets: for SignOnce's own endpoints, which must not refresh tokens
   * ahead of time (a sign-out would refresh tokens it then deletes). `expiredGraceMs` accepts a
   * recently expired token (credentials.ts sessionOfToken).
   */
  async identify(
    request: { headers: IncomingHttpHeaders },
    appConfig: AppConfig,
    host: string,
    expiredGraceMs = 0,
  ): Promise<Identified | Refused | undefined> {
    const credential = credentialOf(request.headers, this.#config.session.cookieName);
    if (!credential) return undefined;
    return (
      this.#recent.get(host, cacheKeyOf(credential)) ?? this.#identify(credential, appConfig, host, expiredGraceMs)
    );
  }

  /** Who a credential is, and until when that answer may be kept (a token's expiry). */
  async #identify(
    credential: Credential,
    appConfig: AppConfig,
    host: string,
    expiredGraceMs: number,
  ): Promise<(Identified & { until: number }) | Refused | undefined> {
    if ('token' in credential) {
      const found = await sessionOfToken(
        { authenticationTokens: this.#tokens, store: this.#store },
        credential.token,
        appConfig,
        expiredGraceMs,
      );
      if ('refused' in found) return found;
      const { session } = found;
      return {
        session,
        user: session.data.user as SignedInIdentity,
        byToken: true,
        until: (found.claims.exp + CLOCK_SKEW_SECONDS) * 1000,
      };
    }
    const session = await sessionOfCookie({ keyring: this.#keyring, store: this.#store }, credential.cookie, host);
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
    const credential = credentialOf(request.headers, this.#config.session.cookieName);
    if (!credential) return undefined;
    const cacheKey = cacheKeyOf(credential);
    const cached = this.#recent.get(host, cacheKey);
    if (cached) return cached;
    const generation = this.#recent.generation;
    const who = await this.#identify(credential, appConfig, host, 0);
    if (!who || 'refused' in who) return who;
    const { session, user, byToken, until } = who;
    const fresh = appConfig.tokenStore
      ? await this.#fresh.forApp(
          await this.#store.getTokens({ accountId: session.accountId, provider: user.provider, resource: '' }),
        )
      : undefined;
    if (fresh && 'refused' in fresh) return fresh;
    const tokens = fresh;
    const resources = appConfig.resources.length
      ? await this.#fresh.resourceHeaders(session.accountId, appConfig)
      : { headers: [], due: Number.POSITIVE_INFINITY };
    if ('refused' in resources) return resources;
    const identityHeaders = [
      ...Object.entries(principalHeaders(user)),
      ...Object.entries(tokens ? tokenHeaders(tokens, appConfig.exposeRefreshTokens) : {}),
      ...resources.headers,
    ];
    const subject = await this.#access.subject(session.accountId, user, this.#access.appPolicy(appConfig.id));
    const resolved: SignedIn = { session, user, tokens, identityHeaders, byToken, subject };
    // Kept until the session or token ends, or a token it carries is due for a refresh ahead.
    const keepUntil = Math.min(session.expiresAt, until, this.#fresh.refreshDue(tokens), resources.due);
    this.#recent.set(host, cacheKey, resolved, { ...session, expiresAt: keepUntil }, generation);
    return resolved;
  }
}
