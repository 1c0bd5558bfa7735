// Who a request on an app host is: by SignOnce's authentication token (X-ZUMO-AUTH, or a bearer
// token of its type) or else by the session cookie, with what the app learns of them. Resolved
// answers are kept briefly per instance (signed-in-cache.ts); sign-outs and token changes evict.
import type { IncomingHttpHeaders } from 'node:http';
import type { AppConfig, Config } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { CLOCK_SKEW_SECONDS, TokenRefused, isAuthenticationTokenType, type AuthenticationClaims, type AuthenticationTokens } from '../session/authentication-tokens.ts';
import { openSessionCookie, readCookie } from '../session/cookies.ts';
import { principalHeaders, tokenHeaders, type SignedInUser } from '../session/principal.ts';
import type { Provider } from '../providers/index.ts';
import { RefreshError, expiringWithin, type TokenRefresher } from '../refresh/refresher.ts';
import type { Session, Store, StoredTokens } from '../store/index.ts';
import { SignedInCache } from './signed-in-cache.ts';

/** A request's session on an app host, with what the app learns of it. */
export interface SignedIn {
  readonly session: Session;
  readonly user: SignedInUser;
  readonly tokens: StoredTokens | undefined;
  /** X-MS-CLIENT-PRINCIPAL* and, for apps with `tokenStore`, X-MS-TOKEN-* headers. */
  readonly identityHeaders: ReadonlyArray<[string, string]>;
  /** Authenticated by a token, not by the cookie (so not exposed to cross-site requests). */
  readonly byToken: boolean;
}

/** A token was presented and is not accepted here: 401, whatever else the request carries. */
export interface Refused { readonly refused: string }

/** The token in `Authorization: Bearer <token>`, if that is the header's form. */
export const bearerToken = (authorization: string | undefined) => /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];

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
    config: Config; store: Store; keyring: Keyring; authenticationTokens: AuthenticationTokens;
    providers: ReadonlyMap<string, Provider>; refresher: TokenRefresher;
  }) {
    this.#config = deps.config;
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#tokens = deps.authenticationTokens;
    this.#providers = deps.providers;
    this.#refresher = deps.refresher;
    this.#recent = new SignedInCache<SignedIn>({ ttlMs: deps.config.session.cacheTtl });
  }

  /**
   * The tokens an app is about to receive, refreshed first when they expire within the provider's
   * `refresh.ahead` (so apps never get a token about to lapse). A failed refresh leaves them as
   * they are (`proceed`) or refuses the request (`401`), per the provider's configuration.
   */
  async #fresh(stored: StoredTokens | undefined): Promise<StoredTokens | Refused | undefined> {
    const provider = stored && this.#providers.get(stored.provider);
    if (!stored?.tokens.refreshToken || !provider?.refresh) return stored;
    const settings = this.#config.providers.find((p) => p.id === stored.provider);
    const { ahead, onRefreshFailure } = (settings && 'refresh' in settings && settings.refresh) || DEFAULT_REFRESH;
    const need = expiringWithin(ahead);
    if (!need(stored.tokens, Date.now())) return stored;
    try {
      return await this.#refresher.refreshAhead(stored, provider, need);
    } catch (error) {
      if (!(error instanceof RefreshError)) throw error;
      return onRefreshFailure === '401' ? { refused: `refresh-failed: ${error.failure}` } : error.failure === 'refused' ? undefined : stored;
    }
  }

  /** What a request presents: SignOnce's token (X-ZUMO-AUTH, or a bearer token of its type), else its cookie. */
  credentialOf(headers: IncomingHttpHeaders): { token: string } | { cookie: string } | undefined {
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
  async sessionOfToken(token: string, appConfig: AppConfig, expiredGraceMs = 0): Promise<{ claims: AuthenticationClaims; session: Session } | Refused> {
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
   * The session of a request on an app host, by its token or cookie; undefined when there is none.
   * `expiredGraceMs` accepts a recently expired token (see sessionOfToken); such answers are not cached.
   */
  async resolve(request: { headers: IncomingHttpHeaders }, appConfig: AppConfig, host: string, expiredGraceMs = 0): Promise<SignedIn | Refused | undefined> {
    const credential = this.credentialOf(request.headers);
    if (!credential) return undefined;
    const cacheKey = 'token' in credential ? `token:${credential.token}` : `cookie:${credential.cookie}`;
    const cached = this.#recent.get(host, cacheKey);
    if (cached) return cached;
    let session: Session | undefined;
    let until = Number.POSITIVE_INFINITY;
    if ('token' in credential) {
      const found = await this.sessionOfToken(credential.token, appConfig, expiredGraceMs);
      if ('refused' in found) return found;
      session = found.session;
      until = (found.claims.exp + CLOCK_SKEW_SECONDS) * 1000;
    } else {
      const secret = openSessionCookie(this.#keyring, credential.cookie, host);
      session = secret ? await this.#store.getSession(secret) : undefined;
      if (!session) return undefined;
    }
    const user = session.data.user as SignedInUser;
    const fresh = appConfig.tokenStore ? await this.#fresh(await this.#store.getTokens({ accountId: session.accountId, provider: user.provider, resource: '' })) : undefined;
    if (fresh && 'refused' in fresh) return fresh;
    const tokens = fresh;
    const identityHeaders = [...Object.entries(principalHeaders(user)), ...Object.entries(tokens ? tokenHeaders(tokens, appConfig.exposeRefreshTokens) : {})];
    const resolved: SignedIn = { session, user, tokens, identityHeaders, byToken: 'token' in credential };
    if (session.expiresAt <= Date.now()) return resolved;
    this.#recent.set(host, cacheKey, resolved, { ...session, expiresAt: Math.min(session.expiresAt, until) });
    return resolved;
  }

  /** After a sign-out: the session's cached answers, on every host. */
  forgetSession(ref: string): void {
    this.#recent.forgetSession(ref);
  }

  /** After the account's provider tokens changed. */
  forgetAccount(accountId: string): void {
    this.#recent.forgetAccount(accountId);
  }
}
