// Who a request on an app host is: by SignOnce's authentication token (X-ZUMO-AUTH, or a bearer
// token of its type), by an identity provider's access token at an app with acceptProviderTokens
// (provider-bearer.ts), or else by the session cookie (credentials.ts), with what the app learns
// of them, its provider tokens fresh (fresh-tokens.ts). Resolved answers are kept briefly per
// instance (signed-in-cache.ts); the store's changes evict them.
import type { IncomingHttpHeaders } from 'node:http';
import type { AccessControl } from '../access/control.ts';
import type { AccessSubject } from '../access/types.ts';
import { ExternalTokenRefused, IssuerUnavailable } from '../accounts/external-issuers.ts';
import type { AppConfig, Config } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { toClaims } from '../providers/claims.ts';
import type { Provider } from '../providers/index.ts';
import { CLOCK_SKEW_SECONDS, type AuthenticationTokens } from './authentication-tokens.ts';
import {
  SESSION_ENDED,
  cacheKeyOf,
  credentialOf,
  sessionOfCookie,
  sessionOfToken,
  type Credential,
  type Refused,
} from './credentials.ts';
import type { LastSeen } from './last-seen.ts';
import type { FreshTokens } from './fresh-tokens.ts';
import { principalHeaders, tokenHeaders, type SignedInIdentity } from './principal.ts';
import { AppAccessTokenVerifier } from './app-access-tokens.ts';
import { ProviderBearerTokens, type VerifiedProviderToken } from './provider-bearer.ts';
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

/** What the app learns of whoever a request is, and what its access rules read. */
interface Principal {
  readonly user: SignedInIdentity;
  readonly byToken: boolean;
  /**
   * X-MS-CLIENT-PRINCIPAL*; for apps with `tokenStore`, X-MS-TOKEN-*; for resources with
   * `inject`, X-SIGNONCE-TOKEN-{ALIAS} and X-SIGNONCE-TOKEN-{ALIAS}-EXPIRES-ON.
   */
  readonly identityHeaders: ReadonlyArray<[string, string]>;
  /** Who asks, as the app's access rules read it (memberships only when they read groups or roles). */
  readonly subject: AccessSubject;
}

/** A request's session on an app host, with what the app learns of it. */
export interface SessionSignedIn extends Identified, Principal {
  readonly tokens: StoredTokens | undefined;
}

/**
 * A request with an identity provider's access token (apps[].acceptProviderTokens): a user of the
 * provider (with the SignOnce account their identity is linked to, if any: `subject.accountId`) or
 * an application calling for itself (`subject.application.alone`). No SignOnce session, so none of
 * the provider tokens SignOnce keeps.
 */
export interface ProviderTokenSignedIn extends Principal {
  readonly byToken: true;
}

export type SignedIn = SessionSignedIn | ProviderTokenSignedIn;

/** A provider's token was presented and its keys cannot be had now: 503, nothing said of the token. */
export interface KeysUnavailable {
  readonly unavailable: IssuerUnavailable;
}

/** SignOnce's endpoints need a SignOnce sign-in: a provider's token only reaches the app (and /.auth/me). */
const PROVIDER_TOKEN_AT_ENDPOINT: Refused = {
  refused:
    "a provider's access token is accepted by the app and /.auth/me only; this endpoint needs a SignOnce sign-in (session cookie or authentication token)",
};

/** X-MS-CLIENT-PRINCIPAL-NAME of a token's user: the first of these claims it has, else its subject. */
const NAME_CLAIMS = ['name', 'preferred_username', 'upn', 'email'];

export class SignedInResolver {
  readonly #config: Config;
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #tokens: AuthenticationTokens;
  readonly #fresh: FreshTokens;
  readonly #access: AccessControl;
  readonly #providerTokens: ProviderBearerTokens;
  readonly #recent: SignedInCache<SignedIn>;
  readonly #lastSeen: LastSeen;

  constructor(deps: {
    config: Config;
    store: Store;
    keyring: Keyring;
    authenticationTokens: AuthenticationTokens;
    freshTokens: FreshTokens;
    access: AccessControl;
    providers: ReadonlyMap<string, Provider>;
    lastSeen: LastSeen;
  }) {
    this.#config = deps.config;
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#tokens = deps.authenticationTokens;
    this.#fresh = deps.freshTokens;
    this.#access = deps.access;
    this.#lastSeen = deps.lastSeen;
    // With `clients`, SignOnce's OpenID Provider issues access tokens for apps: every app takes its own.
    this.#providerTokens = new ProviderBearerTokens(deps.config, deps.providers, {
      own: deps.config.clients.length
        ? {
            issuer: deps.config.publicUrl,
            verifier: new AppAccessTokenVerifier(deps.authenticationTokens, deps.config.publicUrl),
          }
        : undefined,
    });
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
    const credential = this.#credentialOf(request, appConfig);
    if (!credential) return undefined;
    if ('providerToken' in credential) return PROVIDER_TOKEN_AT_ENDPOINT;
    const recent = this.#recent.get(host, cacheKeyOf(credential));
    if (recent && 'session' in recent) return this.#usedAgain(recent, credential);
    return this.#identify(credential, appConfig, host, expiredGraceMs);
  }

  /**
   * A cached answer is a use of its session too (last-seen.ts): one idle since gets the answers of
   * an ended session, so the cache never keeps an idle session alive.
   */
  async #usedAgain<T extends Identified>(
    recent: T,
    credential: { token: string } | { cookie: string },
  ): Promise<T | Refused | undefined> {
    if (await this.#lastSeen.use(recent.session)) return recent;
    return 'token' in credential ? SESSION_ENDED : undefined;
  }

  #credentialOf(request: { headers: IncomingHttpHeaders }, appConfig: AppConfig): Credential | undefined {
    return credentialOf(request.headers, this.#config.session.cookieName, (token) =>
      this.#providerTokens.accepts(appConfig, token),
    );
  }

  /** Who a credential is, and until when that answer may be kept (a token's expiry). */
  async #identify(
    credential: Exclude<Credential, { providerToken: string }>,
    appConfig: AppConfig,
    host: string,
    expiredGraceMs: number,
  ): Promise<(Identified & { until: number }) | Refused | undefined> {
    if ('token' in credential) {
      const found = await sessionOfToken(
        { authenticationTokens: this.#tokens, store: this.#store, lastSeen: this.#lastSeen },
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
    const session = await sessionOfCookie(
      { keyring: this.#keyring, store: this.#store, lastSeen: this.#lastSeen },
      credential.cookie,
      host,
    );
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
  ): Promise<SignedIn | Refused | KeysUnavailable | undefined> {
    const credential = this.#credentialOf(request, appConfig);
    if (!credential) return undefined;
    const cacheKey = cacheKeyOf(credential);
    const cached = this.#recent.get(host, cacheKey);
    if (cached)
      return 'session' in cached && !('providerToken' in credential) ? this.#usedAgain(cached, credential) : cached;
    const generation = this.#recent.generation;
    if ('providerToken' in credential) {
      let verified;
      try {
        verified = await this.#providerTokens.verify(credential.providerToken, appConfig);
      } catch (error) {
        if (error instanceof ExternalTokenRefused) return { refused: error.message };
        if (error instanceof IssuerUnavailable) return { unavailable: error };
        throw error;
      }
      const resolved = await this.#ofProviderToken(verified, appConfig);
      if ('refused' in resolved) return resolved;
      const { accountId } = resolved.subject;
      const session = { ref: '', accountId: accountId ?? '', expiresAt: verified.claims.exp * 1000 };
      this.#recent.set(host, cacheKey, resolved, session, generation);
      return resolved;
    }
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
    const resolved: SessionSignedIn = { session, user, tokens, identityHeaders, byToken, subject };
    // Kept until the session or token ends, or a token it carries is due for a refresh ahead.
    const keepUntil = Math.min(session.expiresAt, until, this.#fresh.refreshDue(tokens), resources.due);
    this.#recent.set(host, cacheKey, resolved, { ...session, expiresAt: keepUntil }, generation);
    return resolved;
  }

  /**
   * Who a provider's verified access token is: its user, with the SignOnce account their identity
   * is linked to (found as a sign-in finds it; a disabled one refused), or its application alone.
   */
  async #ofProviderToken(
    { provider, claims, clientId, alone, own }: VerifiedProviderToken,
    appConfig: AppConfig,
  ): Promise<ProviderTokenSignedIn | Refused> {
    const named = NAME_CLAIMS.map((name) => claims[name]).find((value) => typeof value === 'string' && value !== '');
    const user: SignedInIdentity = {
      provider,
      subject: claims.sub,
      name: alone ? clientId! : ((named as string | undefined) ?? claims.sub),
      claims: toClaims(claims),
    };
    let accountId: string | undefined;
    if (!alone) {
      // SignOnce's own tokens name the account; a provider's, an identity that may be linked to one.
      accountId = own ? claims.sub : (await this.#store.findIdentity(provider, claims.sub))?.accountId;
      const account = accountId === undefined ? undefined : await this.#store.getAccount(accountId);
      if (account?.disabledAt !== undefined) return { refused: 'the account of this user is disabled' };
      if (own && !account) return { refused: 'the account of this token no longer exists' };
    }
    const subject = await this.#access.subject(
      accountId,
      user,
      this.#access.appPolicy(appConfig.id),
      clientId === undefined ? undefined : { clientId, alone },
    );
    return { user, byToken: true, identityHeaders: Object.entries(principalHeaders(user)), subject };
  }
}
