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
// Here the provider steps; the cookies binding a sign-in to its browser are login-binding.ts, the
// hand-off back and single sign-on handoff.ts, the client-directed sign-in client-directed.ts.
// What a completed sign-in does apart from HTTP is src/session/sign-in.ts; the codes, src/session/codes.ts.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { amrOf, provesMultiFactor } from '../../access/step-up.ts';
import { ProviderError, type Provider, type SignInResult } from '../../providers/index.ts';
import { consumeCode, isOwnPage, issueCode, type LoginRequest } from '../../session/codes.ts';
import { signedInWith } from '../../session/principal.ts';
import { recordAudit, signInHappened, type SignInMethod } from '../audit.ts';
import { proofOf } from '../access.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam, readBody, redirect } from '../http.ts';
import { errorPage } from '../pages.ts';
import { checkRedirect, tokenTargetAllowed } from '../rules/redirects.ts';
import { handOff, setSsoCookie, ssoSessionOf } from './handoff.ts';
import { bindBrowser, bindLogin, loginExpired, takeLogin } from './login-binding.ts';

const FORM_POST_LIMIT_BYTES = 64 * 1024;

/** The provider's start of a sign-in at the auth host, carrying the single-use login request `code`. */
const startUrl = (ctx: GatewayContext, providerId: string, code: string) =>
  ctx.authUrl(`/.auth/login/${encodeURIComponent(providerId)}/start?login=${encodeURIComponent(code)}`);

/** GET /.auth/login/{provider} on an app host: starts a sign-in; with `link`, one that links the identity to that session's account. */
export async function startLogin(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  host: string,
  providerId: string,
  link?: string,
) {
  // Linking may add any configured provider's identity; signing in, only those the app offers.
  if (!(link ? ctx.providers.get(providerId) : ctx.signInProvider(appConfig, providerId)))
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
  const mfa = !link && queryParam(request, 'mfa') === '1';
  const maxAge = queryParam(request, 'max_age');
  if (maxAge !== undefined && maxAge !== '0')
    return page(
      reply,
      400,
      errorPage(
        'Sign-in refused',
        'max_age takes only the value 0 here (the provider must authenticate you anew, and say when it did).',
      ),
    );
  // Server-directed sign-in for native apps (Easy Auth's): the token travels back in the fragment
  // of the redirect, to an app scheme (myapp://…) or when asked for with session_mode=token.
  const tokenMode =
    !link && (queryParam(request, 'session_mode') === 'token' || !/^https?:|^\//i.test(decision.location));
  if (
    tokenMode &&
    !tokenTargetAllowed(decision.location, ctx.appUrl(host, '/'), appConfig.allowedExternalRedirectUrls)
  ) {
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
    ...(mfa ? { mfa } : {}),
    ...(maxAge === '0' ? { reauthenticate: true } : {}),
  };
  const code = await issueCode(ctx.store, 'login-request', login);
  bindBrowser(ctx, reply, host, browser);
  return redirect(reply, startUrl(ctx, providerId, code));
}

/** A sign-in the provider did not complete: a page saying why in words, with a way to retry. */
async function providerFailure(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  provider: Provider,
  login: LoginRequest,
  error: unknown,
) {
  const failure = ProviderError.from(error);
  await signInHappened(
    ctx,
    request,
    {
      provider: provider.id,
      outcome: 'failed',
      method: 'provider',
      app: login.appId,
      failure: failure.kind,
      reason: failure.message,
    },
    'sign-in failed at the provider',
  );
  const message =
    failure.kind === 'denied'
      ? `${provider.displayName} did not sign you in (${failure.message}).`
      : failure.kind === 'unreachable'
        ? `${provider.displayName} could not be reached. Please try again in a moment.`
        : `${provider.displayName} answered something SignOnce could not accept.`;
  return page(reply, failure.kind === 'denied' ? 403 : 502, errorPage('Sign-in failed', message, retryUrl(ctx, login)));
}

/** The same sign-in started again on its app host, asking what it asked (prompt, mfa, max_age). */
function retryUrl(ctx: GatewayContext, login: LoginRequest): string {
  const query = new URLSearchParams({
    ...(login.prompt ? { prompt: login.prompt } : {}),
    ...(login.mfa ? { mfa: '1' } : {}),
    ...(login.reauthenticate ? { max_age: '0' } : {}),
    post_login_redirect_uri: login.redirect,
  });
  return ctx.appUrl(login.host, `/.auth/login/${encodeURIComponent(login.provider)}?${query}`);
}

/** GET /.auth/login/{provider}/start?login=… on the auth host: single sign-on, else on to the provider. */
export async function providerStart(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  provider: Provider,
) {
  const login = await consumeCode(ctx.store, 'login-request', queryParam(request, 'login') ?? '');
  if (!login || login.provider !== provider.id) {
    return page(
      reply,
      400,
      errorPage('Sign-in expired', 'This sign-in link was already used or has expired. Start again from the app.'),
    );
  }
  // Single sign-on: this browser signed in here already, for an app that takes part; the app
  // gets the same session without the provider being asked again (unless it asks for prompt=login).
  if (ctx.appsById.get(login.appId)?.sso && login.prompt !== 'login' && !login.link) {
    const existing = await ssoSessionOf(ctx, request.headers.cookie);
    if (existing) {
      await signInHappened(
        ctx,
        request,
        {
          provider: signedInWith(existing.session)?.provider,
          outcome: 'success',
          method: 'sso',
          account: existing.session.accountId,
          app: login.appId,
        },
        'signed in through single sign-on',
      );
      return handOff(ctx, reply, existing.secret, login);
    }
  }
  const state = await issueCode(ctx.store, 'login-state', login);
  const callbackUrl = ctx.authUrl(`/.auth/login/${encodeURIComponent(provider.id)}/callback`);
  let started;
  try {
    started = await provider.begin({
      callbackUrl,
      state,
      prompt: login.prompt,
      reauthenticate: login.reauthenticate,
      mfa: login.mfa,
    });
  } catch (error) {
    return providerFailure(ctx, request, reply, provider, login, error);
  }
  const { url, pending } = started;
  // Binds the state to this browser (login CSRF, RFC 9700 section 4.7) and keeps the PKCE
  // verifier and nonce out of the URL.
  bindLogin(ctx, reply, state, pending);
  return redirect(reply, url);
}

/** GET /.auth/login/{provider}/callback?state=S on the auth host: the provider's answer. */
export async function providerCallback(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  provider: Provider,
) {
  const currentUrl = new URL(request.url, ctx.publicUrl.origin);
  const state = currentUrl.searchParams.get('state') ?? '';
  if (!provider.complete)
    return page(reply, 404, errorPage('No callback', `${provider.displayName} signs in on this site's own pages.`));
  const taken = await takeLogin(ctx, request, reply, provider, state);
  if (!taken) return loginExpired(reply);
  const { login, pending } = taken;
  let result;
  try {
    result = await provider.complete({
      callbackUrl: ctx.authUrl(`/.auth/login/${encodeURIComponent(provider.id)}/callback`),
      currentUrl,
      state,
      pending,
    });
  } catch (error) {
    return providerFailure(ctx, request, reply, provider, login, error);
  }
  return signedInAt(ctx, request, reply, provider, login, result);
}

/**
 * A provider (or SignOnce's own form) proved who signed in: link, or a session and back to the
 * app (or to the OpenID Provider's interaction, with a single-use code naming the account).
 */
export async function signedInAt(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  provider: Provider,
  login: LoginRequest,
  result: SignInResult,
  method: SignInMethod = 'provider',
) {
  if (login.link) return linkIdentity(ctx, request, reply, provider, result, login);
  // Step-up: a sign-in asked for a second factor must show one; a provider that does not assert
  // it (`amr`, RFC 8176, or an `acr` of its mfaAcrValues) gets no session, never a silent pass.
  const multiFactor = provesMultiFactor(proofOf(ctx, { user: { provider: provider.id, claims: result.claims } }));
  if (login.mfa && !multiFactor) {
    await signInHappened(
      ctx,
      request,
      { provider: provider.id, outcome: 'refused', method, app: login.appId, reason: 'no second factor proved' },
      'sign-in refused: the page needs a second factor the sign-in did not prove',
    );
    return page(
      reply,
      403,
      errorPage(
        'A second factor is needed',
        `This page needs a sign-in with a second factor, and ${provider.displayName} did not confirm one for this sign-in. ${
          provider.type === 'password'
            ? 'Turn on two-step sign-in on your account page, then try again.'
            : 'Ask your administrator how to sign in there with a second factor.'
        }`,
        provider.type === 'password' ? '/.auth/account' : retryUrl(ctx, login),
      ),
    );
  }
  const { secret, session } = await ctx.signInCompletion.establishSession(
    provider,
    result,
    login.appId,
    ctx.clientDeviceOf(request.raw),
  );
  const onAuthHost = login.interaction !== undefined || isOwnPage(login.appId);
  if (onAuthHost || ctx.appsById.get(login.appId)?.sso) setSsoCookie(ctx, reply, secret);
  await signInHappened(
    ctx,
    request,
    { provider: provider.id, outcome: 'success', method, account: session.accountId, app: login.appId },
    'signed in',
  );
  if (login.interaction) {
    const code = await issueCode(ctx.store, 'oidc-login', {
      interaction: login.interaction,
      accountId: session.accountId,
      authTime: session.createdAt,
      amr: amrOf(result.claims),
      multiFactor,
    });
    return redirect(reply, ctx.authUrl(`${login.redirect}/done?code=${encodeURIComponent(code)}`));
  }
  if (onAuthHost) return redirect(reply, ctx.authUrl(login.redirect));
  return handOff(ctx, reply, secret, login);
}

/**
 * The callback of a link: the identity joins the account of the session that asked (still
 * live), with its tokens; one that belongs to another account is refused (409), never merged.
 */
async function linkIdentity(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  provider: Provider,
  result: SignInResult,
  login: LoginRequest,
) {
  const outcome = await ctx.signInCompletion.link(login.link!, provider, result);
  if ('linked' in outcome) {
    request.log.info({ provider: provider.id, account: outcome.linked.accountId }, 'identity linked');
    await recordAudit(ctx, request, {
      kind: 'link',
      outcome: 'success',
      accountId: outcome.linked.accountId,
      actor: outcome.linked.accountId,
      app: login.appId,
      detail: { provider: provider.id },
    });
    return redirect(reply, ctx.appTarget(login.host, login.redirect));
  }
  if (outcome.refused === 'session ended')
    return page(
      reply,
      401,
      errorPage(
        'Link not made',
        'Your session ended before the link was made: sign in and link again.',
        ctx.appUrl(login.host, '/.auth/login'),
      ),
    );
  request.log.warn(
    { provider: provider.id, account: outcome.session.accountId },
    'link refused: the identity belongs to another account',
  );
  await recordAudit(ctx, request, {
    kind: 'link',
    outcome: 'refused',
    accountId: outcome.session.accountId,
    actor: outcome.session.accountId,
    app: login.appId,
    detail: { provider: provider.id, reason: 'the identity belongs to another account' },
  });
  return page(
    reply,
    409,
    errorPage(
      'Already linked to another account',
      `This ${provider.displayName} identity belongs to another account, and accounts are never merged. Nothing was changed. To move it here, sign in with it, unlink it there, and link it again.`,
      ctx.appUrl(login.host, '/'),
    ),
  );
}

/**
 * A callback sent as a form POST (response_mode=form_post; Apple requires it when asking for the
 * name or e-mail) answered with a redirect to the same callback as a GET. The POST comes from the
 * provider's site, so the browser leaves out the SameSite=Lax cookie binding the sign-in to it;
 * on the top-level GET that follows it sends the cookie. The parameters end up in the URL as
 * with the default response mode; the GET handler checks everything.
 */
export async function formPostCallback(request: FastifyRequest, reply: FastifyReply, path: string) {
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

/**
 * Starts a sign-in that ends on the auth host, not on an app host: the OpenID Provider's
 * interaction (`interaction`), the account page (`appId` ACCOUNT_PAGE). Its session is the auth
 * host's (the single sign-on cookie); the state binds it to this browser (bindLogin at the start).
 */
export async function startAuthHostLogin(
  ctx: GatewayContext,
  reply: FastifyReply,
  login: Pick<
    LoginRequest,
    'provider' | 'appId' | 'redirect' | 'interaction' | 'prompt' | 'link' | 'mfa' | 'reauthenticate'
  >,
) {
  const request: LoginRequest = {
    ...login,
    host: ctx.publicUrl.host,
    browser: randomBytes(16).toString('base64url'),
  };
  const code = await issueCode(ctx.store, 'login-request', request);
  return redirect(reply, startUrl(ctx, login.provider, code));
}
