// The client of an app behind SignOnce (browsers, Electron, CLIs, services): signs in, keeps the
// authentication token in a TokenCache, and renews it through /.auth/refresh before it expires —
// once, however many callers (and, with a shared cache that has a cross-process lock, however
// many processes) ask at the same moment. Apps of one access group share one sign-in: tokens are
// audience-bound, so the group keeps a token per app, and an app without its own exchanges a
// group member's at /.auth/exchange (the app must list the other in `acceptTokensFrom`).
import { MemoryCache, type TokenCache } from './cache.ts';

export interface SignOnceClientOptions {
  /** The app's origin behind SignOnce, e.g. https://app1.example.com. */
  readonly url: string;
  /** The app's id: the audience of its tokens. */
  readonly app: string;
  /** Where the sign-in is kept; MemoryCache by default. */
  readonly cache?: TokenCache;
  /** The apps sharing one sign-in on this device (like a keychain access group); default: this app alone. */
  readonly group?: string;
  /** Renew this many seconds before the token expires; default 300. */
  readonly refreshBeforeSeconds?: number;
  readonly fetch?: typeof fetch;
}

export interface SignedInUser {
  /** The account id (the tokens' `sub`), the same in every app. */
  readonly userId: string;
}

export type SignOnceErrorCode = 'not-signed-in' | 'refused' | 'unavailable';

export class SignOnceError extends Error {
  readonly code: SignOnceErrorCode;
  readonly status: number | undefined;
  constructor(code: SignOnceErrorCode, message: string, status?: number) {
    super(message);
    this.name = 'SignOnceError';
    this.code = code;
    this.status = status;
  }
}

/** What the cache keeps for a group: the account and a token per app. */
interface GroupSignIn {
  readonly v: 1;
  readonly userId: string;
  readonly tokens: Readonly<Record<string, string>>;
}

/** Seconds since the epoch when `token` (a JWT) expires; 0 when it cannot be read. */
function expiryOf(token: string): number {
  try {
    const payload = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    return Number((JSON.parse(atob(payload)) as { exp?: unknown }).exp) || 0;
  } catch {
    return 0;
  }
}

/** Whether `token` has not expired yet. */
const alive = (token: string) => expiryOf(token) * 1000 > Date.now();

export class SignOnceClient extends EventTarget {
  readonly #url: string;
  readonly #app: string;
  readonly #cache: TokenCache;
  readonly #key: string;
  readonly #refreshBeforeMs: number;
  readonly #fetch: typeof fetch;
  #renewing: Promise<string> | undefined;

  constructor(options: SignOnceClientOptions) {
    super();
    this.#url = options.url.replace(/\/+$/, '');
    this.#app = options.app;
    this.#cache = options.cache ?? new MemoryCache();
    this.#key = `group:${options.group ?? options.app}`;
    this.#refreshBeforeMs = (options.refreshBeforeSeconds ?? 300) * 1000;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  // --- signing in ---------------------------------------------------------------------------

  /**
   * Browser: to the provider through SignOnce (server-directed, ending with `#token=` at
   * `returnTo`: a path on the app's host or a URL, which the app must list in its
   * `allowedExternalRedirectUrls` by its full URL). Call handleRedirectCallback there.
   */
  loginWithRedirect({ provider, returnTo }: { provider: string; returnTo?: string }): void {
    const location = (globalThis as { location?: { pathname: string; search: string; assign(url: string): void } })
      .location;
    const target = returnTo ?? `${location?.pathname ?? '/'}${location?.search ?? ''}`;
    location!.assign(
      `${this.#url}/.auth/login/${encodeURIComponent(provider)}?session_mode=token&post_login_redirect_uri=${encodeURIComponent(target)}`,
    );
  }

  /** Completes a redirect sign-in from the URL it ended at (`#token=`); the token leaves the browser history. */
  async handleRedirectCallback(url?: string): Promise<SignedInUser> {
    const browser = globalThis as {
      location?: { href: string; pathname: string; search: string };
      history?: { replaceState(data: unknown, unused: string, url: string): void };
    };
    const hash = new URL(url ?? browser.location!.href).hash;
    if (!hash.startsWith('#token=')) throw new SignOnceError('not-signed-in', 'the URL carries no #token=');
    const result = JSON.parse(decodeURIComponent(hash.slice('#token='.length))) as {
      authenticationToken: string;
      user: SignedInUser;
    };
    if (url === undefined)
      browser.history?.replaceState(null, '', `${browser.location!.pathname}${browser.location!.search}`);
    return this.#signedIn(result);
  }

  /** Client-directed: the tokens the app got from the provider's own SDK (`{ id_token }`, …). */
  async loginWithProviderToken(provider: string, tokens: Readonly<Record<string, string>>): Promise<SignedInUser> {
    return this.#signedIn(await this.#post(`/.auth/login/${encodeURIComponent(provider)}`, tokens));
  }

  /**
   * An identity token of an external issuer; the first time, with the user's local credentials
   * (`{ username, password }`) so SignOnce can link it (a 401 `credentials_required` says so).
   */
  async loginWithExternalToken(
    issuer: string,
    token: string,
    credentials?: { username: string; password: string; provider?: string },
  ): Promise<SignedInUser> {
    return this.#signedIn(await this.#post(`/.auth/external/${encodeURIComponent(issuer)}`, { token, ...credentials }));
  }

  /** The signed-in user of this app's group, if any (from the cache; nothing is asked). */
  async user(): Promise<SignedInUser | undefined> {
    const entry = await this.#read();
    return entry && { userId: entry.userId };
  }

  // --- using the sign-in --------------------------------------------------------------------

  /** A token for this app that is valid for a while: the cached one, or a renewed one. Throws SignOnceError. */
  async getAuthenticationToken(): Promise<string> {
    const own = (await this.#read())?.tokens[this.#app];
    if (own && !this.#due(own)) return own;
    return this.#renew(own);
  }

  /** `fetch` as the user: X-ZUMO-AUTH added; after a 401, renewed and tried once more. */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const attempt = (token: string) => {
      const headers = new Headers(init.headers);
      headers.set('x-zumo-auth', token);
      return this.#fetch(input, { ...init, headers });
    };
    const token = await this.getAuthenticationToken();
    const response = await attempt(token);
    if (response.status !== 401) return response;
    return attempt(await this.#renew(token, true));
  }

  /** `/.auth/me`: the user's identities and the provider tokens the app may see. */
  async me(): Promise<unknown> {
    return this.#json(await this.fetch(`${this.#url}/.auth/me`));
  }

  /** `/.auth/token?resource=`: the user's token for one of the app's resources. */
  async token(resource: string): Promise<{ access_token: string; expires_on?: string }> {
    return this.#json(
      await this.fetch(`${this.#url}/.auth/token?resource=${encodeURIComponent(resource)}`),
    ) as Promise<{ access_token: string; expires_on?: string }>;
  }

  /** Signs out at SignOnce (every app of the sign-in) and forgets the sign-in of the whole group here. */
  async logout(): Promise<void> {
    const own = (await this.#read())?.tokens[this.#app];
    try {
      if (own) await this.#fetch(`${this.#url}/.auth/logout`, { headers: { 'x-zumo-auth': own }, redirect: 'manual' });
    } finally {
      await this.#exclusive(() => this.#cache.delete(this.#key));
      this.#emit('signout', { reason: 'logout' });
    }
  }

  // --- inside -------------------------------------------------------------------------------

  #due(token: string): boolean {
    return expiryOf(token) * 1000 - Date.now() < this.#refreshBeforeMs;
  }

  /**
   * A renewed token, once for every caller of this process at a time and, with a shared cache,
   * exclusive across processes. The cache is read again under the lock: a token another process
   * renewed meanwhile is taken as it is, and a group member's fresher token is exchanged for this
   * app's (no provider asked) before this app's own is refreshed. `force`: `seen` was refused.
   */
  #renew(seen: string | undefined, force = false): Promise<string> {
    this.#renewing ??= this.#exclusive(async () => {
      const entry = await this.#read();
      const own = entry?.tokens[this.#app];
      if (own && own !== seen && (force ? alive(own) : !this.#due(own))) return own;
      // The group's other tokens still alive, the longest-lived first.
      const [best] = Object.entries(entry?.tokens ?? {})
        .filter(([app, token]) => app !== this.#app && alive(token))
        .map(([, token]) => token)
        .sort((a, b) => expiryOf(b) - expiryOf(a));
      if (best && !this.#due(best) && (!own || expiryOf(best) > expiryOf(own))) {
        try {
          return await this.#exchange(entry!, best);
        } catch (error) {
          if (!own || !(error instanceof SignOnceError)) throw error;
        }
      }
      if (own) return this.#refresh(entry!, own);
      // No token of this app's own yet: the group's, even one about to lapse (this app renews its own next).
      if (best) return this.#exchange(entry!, best);
      throw new SignOnceError('not-signed-in', 'not signed in');
    }).finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /** GET /.auth/refresh: the provider's tokens and the session renewed, a new token for it. */
  async #refresh(entry: GroupSignIn, own: string): Promise<string> {
    let response: Response;
    try {
      response = await this.#fetch(`${this.#url}/.auth/refresh`, { headers: { 'x-zumo-auth': own } });
    } catch (error) {
      return this.#refreshFailed(
        own,
        new SignOnceError('unavailable', `SignOnce could not be reached: ${(error as Error).message}`),
      );
    }
    if (response.ok) {
      const { authenticationToken } = (await response.json()) as { authenticationToken: string };
      await this.#write({ ...entry, tokens: { ...entry.tokens, [this.#app]: authenticationToken } });
      this.#emit('refresh', {});
      return authenticationToken;
    }
    const reason =
      ((await response.json().catch(() => ({}))) as { error?: string }).error ?? `status ${response.status}`;
    // The session ended, or the provider refused: the whole group's sign-in is over.
    if (response.status === 401 || response.status === 403) {
      await this.#cache.delete(this.#key);
      this.#emit('signout', { reason });
      throw new SignOnceError(response.status === 401 ? 'not-signed-in' : 'refused', reason, response.status);
    }
    // 400: nothing to refresh with (no offline access); the token serves until it ends, then sign in again.
    return this.#refreshFailed(
      own,
      new SignOnceError(response.status === 400 ? 'not-signed-in' : 'unavailable', reason, response.status),
    );
  }

  /** A renewal failed but the sign-in may stand: the token as it is while it lasts. */
  #refreshFailed(own: string, error: SignOnceError): string {
    this.#emit('refreshfailure', { error });
    if (alive(own)) return own;
    throw error;
  }

  /** POST /.auth/exchange: this app's token for the session of a group member's token. */
  async #exchange(entry: GroupSignIn, member: string): Promise<string> {
    const response = await this.#fetch(`${this.#url}/.auth/exchange`, {
      method: 'POST',
      headers: { 'x-zumo-auth': member, 'content-type': 'application/json' },
      body: JSON.stringify({ audience: this.#app }),
    });
    if (!response.ok)
      throw new SignOnceError(
        'not-signed-in',
        `this app cannot use the group's sign-in (status ${response.status}; it must accept tokens of the app that signed in)`,
        response.status,
      );
    const { authenticationToken } = (await response.json()) as { authenticationToken: string };
    await this.#write({ ...entry, tokens: { ...entry.tokens, [this.#app]: authenticationToken } });
    return authenticationToken;
  }

  async #signedIn(result: { authenticationToken: string; user: SignedInUser }): Promise<SignedInUser> {
    // A new sign-in replaces the group's: tokens of another session must not be mixed in.
    await this.#exclusive(() =>
      this.#write({ v: 1, userId: result.user.userId, tokens: { [this.#app]: result.authenticationToken } }),
    );
    this.#emit('signin', { user: result.user });
    return result.user;
  }

  async #post(path: string, body: unknown): Promise<{ authenticationToken: string; user: SignedInUser }> {
    const response = await this.#fetch(`${this.#url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return this.#json(response) as Promise<{ authenticationToken: string; user: SignedInUser }>;
  }

  async #json(response: Response): Promise<unknown> {
    const body = (await response.json().catch(() => ({}))) as { error?: string; reason?: string };
    if (response.ok) return body;
    const message = [body.error, body.reason].filter(Boolean).join(': ') || `status ${response.status}`;
    throw new SignOnceError(
      response.status === 401 ? 'not-signed-in' : response.status >= 500 ? 'unavailable' : 'refused',
      message,
      response.status,
    );
  }

  async #read(): Promise<GroupSignIn | undefined> {
    const value = await this.#cache.get(this.#key);
    try {
      const entry = value === undefined ? undefined : (JSON.parse(value) as GroupSignIn);
      return entry?.v === 1 ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  #write(entry: GroupSignIn): Promise<void> {
    return this.#cache.set(this.#key, JSON.stringify(entry));
  }

  #exclusive<T>(change: () => Promise<T>): Promise<T> {
    return this.#cache.exclusive ? this.#cache.exclusive(change) : change();
  }

  #emit(type: 'signin' | 'signout' | 'refresh' | 'refreshfailure', detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
