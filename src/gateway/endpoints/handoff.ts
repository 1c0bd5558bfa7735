// The end of a sign-in: from the auth host back to the app host that started it, with a
// single-use hand-off code (60 s) bound to that host and to the browser that started
// (login-binding.ts); and single sign-on, the auth host's session of the browser that app hosts
// without one of their own are handed.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../../config/index.ts';
import { consumeCode, issueCode, type Handoff, type LoginRequest } from '../../session/codes.ts';
import { openSessionCookie, readCookie, sealSessionCookie, setCookieHeader } from '../../session/cookies.ts';
import type { SignedInIdentity } from '../../session/principal.ts';
import type { Session } from '../../store/index.ts';
import type { GatewayContext } from '../context.ts';
import { page, queryParam, redirect } from '../http.ts';
import { errorPage } from '../pages.ts';
import { SSO_COOKIE, browserOf, clearLoginCookie, ownCookie } from './login-binding.ts';

/** Whether two strings are equal, in time independent of where they differ. */
const sameSecret = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Back to the app host with a single-use code (60 s, bound to that host) for the session. */
export async function handOff(ctx: GatewayContext, reply: FastifyReply, secret: string, login: LoginRequest) {
  const handoff: Handoff = {
    secret,
    host: login.host,
    redirect: login.redirect,
    browser: login.browser,
    ...(login.tokenMode ? { tokenMode: true } : {}),
  };
  const code = await issueCode(ctx.store, 'handoff', handoff);
  return redirect(reply, ctx.appUrl(login.host, `/.auth/login/done?code=${encodeURIComponent(code)}`));
}

/**
 * GET /.auth/login/done?code=H on the app host, in the browser that started: the session cookie
 * for this host only (or, for native apps, `#token=`), and on to where the sign-in was to land.
 */
export async function finishLogin(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  host: string,
) {
  const { config, keyring, secure } = ctx;
  const handoff = await consumeCode(ctx.store, 'handoff', queryParam(request, 'code') ?? '');
  clearLoginCookie(ctx, reply);
  if (!handoff || handoff.host !== host) {
    return page(
      reply,
      400,
      errorPage('Sign-in expired', 'This sign-in link was already used or has expired.', '/.auth/login'),
    );
  }
  const browser = browserOf(ctx, request, host);
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
    const session = await ctx.store.getSession(handoff.secret);
    if (!session)
      return page(reply, 400, errorPage('Sign-in expired', 'This sign-in has ended already.', '/.auth/login'));
    const authenticationToken = await ctx.authenticationTokens.issue(
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

/** Sets the auth host's single sign-on cookie for the session of `secret`. */
export function setSsoCookie(ctx: GatewayContext, reply: FastifyReply, secret: string): void {
  const { name, path } = ownCookie(SSO_COOKIE, ctx.secure);
  reply.header(
    'set-cookie',
    setCookieHeader(name, sealSessionCookie(ctx.keyring, secret, ctx.publicUrl.host), {
      secure: ctx.secure,
      maxAgeSeconds: Math.floor(ctx.config.session.lifetime / 1000),
      path,
    }),
  );
}

/** The browser's live single sign-on session on the auth host, by its cookie (in a Cookie header). */
export async function ssoSessionOf(
  ctx: GatewayContext,
  cookieHeader: string | undefined,
): Promise<{ secret: string; session: Session } | undefined> {
  const cookie = readCookie(cookieHeader, ownCookie(SSO_COOKIE, ctx.secure).name);
  const secret = cookie && openSessionCookie(ctx.keyring, cookie, ctx.publicUrl.host);
  const session = secret ? await ctx.store.getSession(secret) : undefined;
  // Single sign-on is a use of the session: an idle one signs no one in.
  return secret && session && (await ctx.lastSeen.use(session)) ? { secret, session } : undefined;
}
