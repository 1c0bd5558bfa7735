// The cross-host sign-in, with single sign-on (src/gateway/routes.ts dispatches to it):
//   app host  GET /.auth/login/{p}?post_login_redirect_uri=…  -> login request code (5 min), and a
//             cookie binding it to this browser
//   auth host GET /.auth/login/{p}/start?login=…   -> the SSO session if the browser has one, else
//             login state S (5 min, single use), a cookie on the auth host binding S to this
//             browser and keeping PKCE/nonce, redirect to the provider
//   auth host GET /.auth/login/{p}/callback?state=S -> provider checks, account, tokens sealed,
//             session (and the SSO cookie), single-use hand-off code H (60 s) bound to the app host
//   app host  GET /.auth/login/done?code=H          -> in the browser that started: the session
//             cookie for this host only (or, for native apps, #token=), redirect
// and the client-directed sign-in of native apps: POST /.auth/login/{p} with provider tokens.
// Linking (GET /.auth/link/{p} on an app host, signed in) takes the same way to the provider,
// never through single sign-on, and at the callback links the identity to the session's account.
// What a completed sign-in does apart from HTTP is src/session/sign-in.ts; the codes, src/session/codes.ts.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { ProviderError, type PendingSignIn, type Provider, type SignInResult } from '../../providers/index.ts';
import { CODE_TTL_MS, consumeCode, issueCode, type Handoff, type LoginRequest } from '../../session/codes.ts';
import { openSessionCookie, readCookie, sealSessionCookie, setCookieHeader } from '../../session/cookies.ts';
import type { SignedInIdentity } from '../../session/principal.ts';
import { SignInCompletion } from '../../session/sign-in.ts';
import type { Session } from '../../store/index.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam, readBody, readJsonObject, redirect } from '../http.ts';
import { sendError } from '../errors.ts';
import { errorPage } from '../pages.ts';
import { checkRedirect, tokenTargetAllowed } from '../rules/redirects.ts';

/** On each host, the cookie binding a sign-in in progress to the browser that started it. */
export const LOGIN_COOKIE = 'SignOnceLogin';
// On the auth host: the browser's single sign-on session, which app hosts without a session of
// their own are handed (the same server-side session, each host with its own host-bound cookie).
export const SSO_COOKIE = 'SignOnceSSO';

/**
 * Where one of SignOnce's own cookies lives: over https with the `__Host-` prefix (RFC 6265bis
 * section 4.1.3.2), which browsers accept only from the host itself, Secure, for Path=/ — so a
 * sibling host under the same domain cannot plant one (cookie tossing, a login CSRF into the
 * attacker's session). Over http (development) the prefix cannot be used.
 */
export function ownCookie(
  name: typeof LOGIN_COOKIE | typeof SSO_COOKIE,
  secure: boolean,
): { name: string; path: string } {
  if (secure) return { name: `__Host-${name}`, path: '/' };
  return { name, path: name === LOGIN_COOKIE ? '/.auth/login/' : '/.auth/' };
}
const FORM_POST_LIMIT_BYTES = 64 * 1024;
const CLIENT_TOKENS_LIMIT_BYTES = 64 * 1024;

const loginBinding = (state: string) => ({ purpose: 'login-browser', owner: [state] });
const handoffBinding = (host: string) => ({ purpose: 'handoff-browser', owner: [host] });

/** Whether two strings are equal, in time independent of where they differ. */
const sameSecret = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export function signInRoutes(ctx: GatewayContext) {
  const {
    config,
    store,
    keyring,
    providers,
    authenticationTokens,
    accounts,
    publicUrl,
    secure,
    appsById,
    appUrl,
    authUrl,
    appTarget,
  } = ctx;
  const loginCookie = ownCookie(LOGIN_COOKIE, secure);
  const ssoCookie = ownCookie(SSO_COOKIE, secure);
  const completion = new SignInCompletion({
    store,
    accounts,
    sessionLifetimeMs: config.session.lifetime,
    log: ctx.log,
  });

  /** Starts a sign-in at `providerId`; with `link`, one that links the identity to that session's account. */
  async function startLogin(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    host: string,
    providerId: string,
    link?: string,
  ) {
    if (!providers.has(providerId))
      return page(
        reply,
        404,
        errorPage('Unknown sign-in provider', `There is no provider "${providerId}".`, '/.auth/login'),
      );
    const target = queryParam(request, 'post_login_redirect_uri') ?? '/';
    const decision = checkRedirect(target, appConfig.allowedExternalRedirectUrls);
    if (!decision.ok) {
      request.log.warn({ reason: decision.reason }, 'refused post_login_redirect_uri');
      return page(
        reply,
        400,
        errorPage('Sign-in refused', `post_login_redirect_uri is not allowed here: ${decision.reason}.`),
      );
    }
    const prompt = queryParam(request, 'prompt');
    // Server-directed sign-in for native apps (Easy Auth's): the token travels back in the fragment
    // of the redirect, to an app scheme (myapp://…) or when asked for with session_mode=token.
    const tokenMode =
      !link && (queryParam(request, 'session_mode') === 'token' || !/^https?:|^\//i.test(decision.location));
    if (tokenMode && !tokenTargetAllowed(decision.location, appUrl(host, '/'), appConfig.allowedExternalRedirectUrls)) {
      request.log.warn('refused session_mode=token to a target not in allowedExternalRedirectUrls');
      return page(
        reply,
        400,
        errorPage(
          'Sign-in refused',
          "session_mode=token hands the authentication token only to a URL listed in the app's allowedExternalRedirectUrls (an app scheme, or a callback page listed by its full URL).",
        ),
      );
    }
    const browser = randomBytes(16).toString('base64url');
    const login: LoginRequest = {
      provider: providerId,
      appId: appConfig.id,
      host,
      redirect: decision.location,
      browser,
      ...(prompt ? { prompt } : {}),
      ...(tokenMode ? { tokenMode } : {}),
      ...(link ? { link } : {}),
    };
    const code = await issueCode(store, 'login-request', login);
    reply.header(
      'set-cookie',
      setCookieHeader(loginCookie.name, keyring.seal(browser, handoffBinding(host)), {
        secure,
        maxAgeSeconds: CODE_TTL_MS['login-request'] / 1000,
        path: loginCookie.path,
      }),
    );
    return redirect(
      reply,
      authUrl(`/.auth/login/${encodeURIComponent(providerId)}/start?login=${encodeURIComponent(code)}`),
    );
  }
  async function finishLogin(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const code = queryParam(request, 'code') ?? '';
    const handoff = await consumeCode(store, 'handoff', code);
    const browserCookie = readCookie(request.headers.cookie, loginCookie.name);
    reply.header(
      'set-cookie',
      setCookieHeader(loginCookie.name, '', { secure, maxAgeSeconds: 0, path: loginCookie.path }),
    );
    if (!handoff || handoff.host !== host) {
      return page(
        reply,
        400,
        errorPage('Sign-in expired', 'This sign-in link was already used or has expired.', '/.auth/login'),
      );
    }
    let browser: string | undefined;
    try {
      browser = browserCookie ? keyring.openString(browserCookie, handoffBinding(host)) : undefined;
    } catch {
      browser = undefined;
    }
    if (!browser || !sameSecret(browser, handoff.browser)) {
      request.log.warn(
        { app: appConfig.id },
        'sign-in hand-off refused: the code was used in another browser than the one that started the sign-in',
      );
      return page(
        reply,
        400,
        errorPage('Sign-in refused', 'This sign-in was started in another browser. Start again here.', '/.auth/login'),
      );
    }
    if (handoff.tokenMode) {
      const session = await store.getSession(handoff.secret);
      if (!session)
        return page(reply, 400, errorPage('Sign-in expired', 'This sign-in has ended already.', '/.auth/login'));
      const authenticationToken = await authenticationTokens.issue(
        session,
        appConfig.id,
        (session.data.user as SignedInIdentity).provider,
      );
      const result = JSON.stringify({ authenticationToken, user: { userId: session.accountId } });
      return redirect(reply, `${handoff.redirect.split('#', 1)[0]}#token=${encodeURIComponent(result)}`);
    }
    const cookie = sealSessionCookie(keyring, handoff.secret, host);
    reply.header(
      'set-cookie',
      setCookieHeader(config.session.cookieName, cookie, {
        secure,
        maxAgeSeconds: Math.floor(config.session.lifetime / 1000),
      }),
    );
    return redirect(reply, handoff.redirect);
  }
  /**
   * POST /.auth/login/{provider} with the tokens a native app got from the provider's own SDK
   * (Easy Auth's client-directed sign-in): checked with the provider, then a session and an
   * authentication token for this app, `{"authenticationToken", "user": {"userId"}}`.
   */
  async function clientDirectedLogin(
    request: FastifyRequest,
    reply: FastifyReply,
    appConfig: AppConfig,
    providerId: string,
  ) {
    const provider = providers.get(providerId);
    if (!provider) return sendError(reply, 404, { error: `there is no provider "${providerId}"` });
    if (!provider.signInWithTokens) {
      return sendError(reply, 400, {
        error: `provider "${providerId}" does not take client-directed sign-in: its tokens cannot prove they were issued to this app; use GET /.auth/login/${providerId}`,
      });
    }
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? ''))
      return sendError(reply, 415, { error: 'send the provider tokens as application/json' });
    const parsed = await readJsonObject(request.raw, CLIENT_TOKENS_LIMIT_BYTES);
    const fields = ['id_token', 'access_token', 'access_token_secret'] as const;
    if (!parsed || !fields.some((field) => typeof parsed[field] === 'string')) {
      return sendError(reply, 400, {
        error:
          'the body must be JSON with the provider tokens: {"id_token": …} (OpenID Connect, optionally with "access_token"), or {"access_token": …, "access_token_secret": …} (OAuth 1.0a)',
      });
    }
    const tokens = Object.fromEntries(
      fields.flatMap((field) => {
        const value = parsed[field];
        return typeof value === 'string' ? [[field, value]] : [];
      }),
    );
    let result: SignInResult;
    try {
      result = await provider.signInWithTokens(tokens);
    } catch (error) {
      const failure = ProviderError.from(error);
      request.log.warn(
        { provider: provider.id, kind: failure.kind, reason: failure.message },
        'client-directed sign-in refused',
      );
      ctx.metrics.signIns.inc({ provider: provider.id, outcome: 'failed' });
      return failure.kind === 'denied'
        ? sendError(reply, 401, { error: 'the provider tokens are not accepted', reason: failure.message })
        : sendError(reply, 502, {
            error: `${provider.displayName} could not check the tokens`,
            reason: failure.message,
          });
    }
    // Each ID token or OAuth 1.0a token signs in once (src/providers/single-use.ts): one an app
    // received from SignOnce, or one already used, is refused (RFC 9700 section 4.6; CWE-294).
    const used = await completion.usedBefore(result.tokens);
    if (used) {
      request.log.warn(
        { provider: provider.id, kind: used.kind },
        'client-directed sign-in refused: the token was used before or received by SignOnce itself',
      );
      ctx.metrics.signIns.inc({ provider: provider.id, outcome: 'failed' });
      return sendError(reply, 401, {
        error: 'the provider tokens are not accepted',
        reason: `${used.kind === 'id_token' ? 'id_token' : 'access_token'} already used`,
      });
    }
    const { session } = await completion.establishSession(provider, result, appConfig.id);
    const authenticationToken = await authenticationTokens.issue(session, appConfig.id, provider.id);
    request.log.info(
      { provider: provider.id, account: session.accountId, app: appConfig.id },
      'signed in (client-directed)',
    );
    ctx.metrics.signIns.inc({ provider: provider.id, outcome: 'success' });
    return reply.header('cache-control', 'no-store').send({ authenticationToken, user: { userId: session.accountId } });
  }
  /** A sign-in the provider did not complete: a page saying why in words, with a way to retry. */
  function providerFailure(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: Provider,
    login: LoginRequest,
    error: unknown,
  ) {
    const failure = ProviderError.from(error);
    request.log.warn(
      { provider: provider.id, kind: failure.kind, reason: failure.message },
      'sign-in failed at the provider',
    );
    ctx.metrics.signIns.inc({ provider: provider.id, outcome: 'failed' });
    const message =
      failure.kind === 'denied'
        ? `${provider.displayName} did not sign you in (${failure.message}).`
        : failure.kind === 'unreachable'
          ? `${provider.displayName} could not be reached. Please try again in a moment.`
          : `${provider.displayName} answered something SignOnce could not accept.`;
    const retry = appUrl(
      login.host,
      `/.auth/login/${encodeURIComponent(provider.id)}?post_login_redirect_uri=${encodeURIComponent(login.redirect)}`,
    );
    return page(reply, failure.kind === 'denied' ? 403 : 502, errorPage('Sign-in failed', message, retry));
  }
  async function providerStart(request: FastifyRequest, reply: FastifyReply, provider: Provider) {
    const code = queryParam(request, 'login') ?? '';
    const login = await consumeCode(store, 'login-request', code);
    if (!login || login.provider !== provider.id) {
      return page(
        reply,
        400,
        errorPage('Sign-in expired', 'This sign-in link was already used or has expired. Start again from the app.'),
      );
    }
    // Single sign-on: this browser signed in here already, for an app that takes part; the app
    // gets the same session without the provider being asked again (unless it asks for prompt=login).
    if (appsById.get(login.appId)?.sso && login.prompt !== 'login' && !login.link) {
      const existing = await ssoSessionOf(request.headers.cookie);
      if (existing) {
        request.log.info({ account: existing.session.accountId, app: login.appId }, 'signed in through single sign-on');
        return handOff(reply, existing.secret, login);
      }
    }
    const state = await issueCode(store, 'login-state', login);
    const callbackUrl = authUrl(`/.auth/login/${encodeURIComponent(provider.id)}/callback`);
    let started;
    try {
      started = await provider.begin({ callbackUrl, state, ...(login.prompt ? { prompt: login.prompt } : {}) });
    } catch (error) {
      return providerFailure(request, reply, provider, login, error);
    }
    const { url, pending } = started;
    // Binds the state to this browser (login CSRF, RFC 9700 section 4.7) and keeps the PKCE
    // verifier and nonce out of the URL.
    bindLogin(reply, state, pending);
    return redirect(reply, url);
  }
  /**
   * The sign-in in progress that `state` names, taken (single use), if this browser started it:
   * the login cookie must open under that state (login CSRF, RFC 9700 section 4.7). The cookie
   * goes either way. Undefined, logged, for an unknown, replayed or foreign state.
   */
  async function takeLogin(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: Provider,
    state: string,
  ): Promise<{ login: LoginRequest; pending: PendingSignIn } | undefined> {
    const login = await consumeCode(store, 'login-state', state);
    const browser = readCookie(request.headers.cookie, loginCookie.name);
    reply.header(
      'set-cookie',
      setCookieHeader(loginCookie.name, '', { secure, maxAgeSeconds: 0, path: loginCookie.path }),
    );
    let pending: PendingSignIn | undefined;
    try {
      pending = login && browser ? JSON.parse(keyring.openString(browser, loginBinding(state))) : undefined;
    } catch {
      pending = undefined;
    }
    if (!login || login.provider !== provider.id || !pending) {
      request.log.warn(
        { provider: provider.id, known: !!login, browserBound: !!pending },
        'sign-in refused: unknown, replayed or foreign state',
      );
      ctx.metrics.signIns.inc({ provider: provider.id, outcome: 'refused' });
      return undefined;
    }
    return { login, pending };
  }
  const loginExpired = (reply: FastifyReply) =>
    page(
      reply,
      400,
      errorPage(
        'Sign-in expired',
        'This sign-in was already completed, has expired, or was started in another browser. Start again from the app.',
      ),
    );
  /** The same sign-in under a new state, bound to this browser (a form shown again after a mistake). */
  async function continueLogin(reply: FastifyReply, login: LoginRequest, pending: PendingSignIn = {}): Promise<string> {
    const state = await issueCode(store, 'login-state', login);
    bindLogin(reply, state, pending);
    return state;
  }
  /** The cookie binding `state` to this browser, keeping what the callback needs (PKCE verifier, nonce). */
  function bindLogin(reply: FastifyReply, state: string, pending: PendingSignIn): void {
    reply.header(
      'set-cookie',
      setCookieHeader(loginCookie.name, keyring.seal(JSON.stringify(pending), loginBinding(state)), {
        secure,
        maxAgeSeconds: CODE_TTL_MS['login-state'] / 1000,
        path: loginCookie.path,
      }),
    );
  }
  async function providerCallback(request: FastifyRequest, reply: FastifyReply, provider: Provider) {
    const currentUrl = new URL(request.url, publicUrl.origin);
    const state = currentUrl.searchParams.get('state') ?? '';
    if (!provider.complete)
      return page(reply, 404, errorPage('No callback', `${provider.displayName} signs in on this site's own pages.`));
    const taken = await takeLogin(request, reply, provider, state);
    if (!taken) return loginExpired(reply);
    const { login, pending } = taken;
    let result;
    try {
      result = await provider.complete({
        callbackUrl: authUrl(`/.auth/login/${encodeURIComponent(provider.id)}/callback`),
        currentUrl,
        state,
        pending,
      });
    } catch (error) {
      return providerFailure(request, reply, provider, login, error);
    }
    return signedInAt(request, reply, provider, login, result);
  }
  /**
   * A provider (or SignOnce's own form) proved who signed in: link, or a session and back to the
   * app (or to the OpenID Provider's interaction, with a single-use code naming the account).
   */
  async function signedInAt(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: Provider,
    login: LoginRequest,
    result: SignInResult,
  ) {
    if (login.link) return linkIdentity(request, reply, provider, result, login);
    const { secret, session } = await completion.establishSession(provider, result, login.appId);
    if (login.interaction || appsById.get(login.appId)?.sso) {
      const sso = sealSessionCookie(keyring, secret, publicUrl.host);
      reply.header(
        'set-cookie',
        setCookieHeader(ssoCookie.name, sso, {
          secure,
          maxAgeSeconds: Math.floor(config.session.lifetime / 1000),
          path: ssoCookie.path,
        }),
      );
    }
    request.log.info({ provider: provider.id, account: session.accountId, app: login.appId }, 'signed in');
    ctx.metrics.signIns.inc({ provider: provider.id, outcome: 'success' });
    if (login.interaction) {
      const code = await issueCode(store, 'oidc-login', {
        interaction: login.interaction,
        accountId: session.accountId,
        authTime: session.createdAt,
      });
      return redirect(reply, authUrl(`${login.redirect}/done?code=${encodeURIComponent(code)}`));
    }
    return handOff(reply, secret, login);
  }
  /**
   * The callback of a link: the identity joins the account of the session that asked (still
   * live), with its tokens; one that belongs to another account is refused (409), never merged.
   */
  async function linkIdentity(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: Provider,
    result: SignInResult,
    login: LoginRequest,
  ) {
    const outcome = await completion.link(login.link!, provider, result);
    if ('linked' in outcome) {
      request.log.info({ provider: provider.id, account: outcome.linked.accountId }, 'identity linked');
      return redirect(reply, appTarget(login.host, login.redirect));
    }
    if (outcome.refused === 'session ended')
      return page(
        reply,
        401,
        errorPage(
          'Link not made',
          'Your session ended before the link was made: sign in and link again.',
          appUrl(login.host, '/.auth/login'),
        ),
      );
    request.log.warn(
      { provider: provider.id, account: outcome.session.accountId },
      'link refused: the identity belongs to another account',
    );
    return page(
      reply,
      409,
      errorPage(
        'Already linked to another account',
        `This ${provider.displayName} identity belongs to another account, and accounts are never merged. Nothing was changed. To move it here, sign in with it, unlink it there, and link it again.`,
        appUrl(login.host, '/'),
      ),
    );
  }
  /** The browser's live single sign-on session on the auth host, by its cookie (in a Cookie header). */
  async function ssoSessionOf(
    cookieHeader: string | undefined,
  ): Promise<{ secret: string; session: Session } | undefined> {
    const cookie = readCookie(cookieHeader, ssoCookie.name);
    const secret = cookie && openSessionCookie(keyring, cookie, publicUrl.host);
    const session = secret ? await store.getSession(secret) : undefined;
    return secret && session ? { secret, session } : undefined;
  }
  /** Back to the app host with a single-use code (60 s, bound to that host) for the session. */
  async function handOff(reply: FastifyReply, secret: string, login: LoginRequest) {
    const handoff: Handoff = {
      secret,
      host: login.host,
      redirect: login.redirect,
      browser: login.browser,
      ...(login.tokenMode ? { tokenMode: true } : {}),
    };
    const code = await issueCode(store, 'handoff', handoff);
    return redirect(reply, appUrl(login.host, `/.auth/login/done?code=${encodeURIComponent(code)}`));
  }
  /**
   * A callback sent as a form POST (response_mode=form_post; Apple requires it when asking for the
   * name or e-mail) answered with a redirect to the same callback as a GET. The POST comes from the
   * provider's site, so the browser leaves out the SameSite=Lax cookie binding the sign-in to it;
   * on the top-level GET that follows it sends the cookie. The parameters end up in the URL as
   * with the default response mode; the GET handler checks everything.
   */
  async function formPostCallback(request: FastifyRequest, reply: FastifyReply, path: string) {
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
      return page(reply, 415, errorPage('Sign-in failed', 'The provider answered in a form SignOnce does not accept.'));
    }
    const body = await readBody(request.raw, FORM_POST_LIMIT_BYTES);
    // The unread rest of a body too large is not worth reading: the connection closes after the answer.
    if (body === undefined)
      return page(
        reply.header('connection', 'close'),
        413,
        errorPage('Sign-in failed', "The provider's answer is too large."),
      );
    return reply
      .header('cache-control', 'no-store')
      .redirect(`${path}?${new URLSearchParams(body.toString('latin1')).toString()}`, 303);
  }

  /** Starts a sign-in for the OpenID Provider's interaction at `path` (on the auth host). */
  async function startInteractionLogin(
    reply: FastifyReply,
    providerId: string,
    uid: string,
    path: string,
    prompt?: string,
  ) {
    const login: LoginRequest = {
      provider: providerId,
      appId: 'oidc',
      host: publicUrl.host,
      redirect: path,
      browser: randomBytes(16).toString('base64url'),
      interaction: uid,
      ...(prompt ? { prompt } : {}),
    };
    const code = await issueCode(store, 'login-request', login);
    return redirect(
      reply,
      authUrl(`/.auth/login/${encodeURIComponent(providerId)}/start?login=${encodeURIComponent(code)}`),
    );
  }

  return {
    startLogin,
    finishLogin,
    clientDirectedLogin,
    providerStart,
    providerCallback,
    formPostCallback,
    takeLogin,
    continueLogin,
    loginExpired,
    signedInAt,
    ssoSessionOf,
    startInteractionLogin,
  };
}
