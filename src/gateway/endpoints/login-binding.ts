// Binding a sign-in in progress to the browser that started it (login CSRF, RFC 9700 section 4.7):
// on the app host, a cookie holding the random `browser` value the hand-off code must match
// (handoff.ts); on the auth host, a cookie sealed under the login state, keeping what the
// provider's callback needs (PKCE verifier, nonce) out of the URL. Both are SignOnce's own cookies.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PendingSignIn, Provider } from '../../providers/index.ts';
import { CODE_TTL_MS, consumeCode, issueCode, type LoginRequest } from '../../session/codes.ts';
import { readCookie, setCookieHeader } from '../../session/cookies.ts';
import { signInHappened } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { page } from '../http.ts';
import { errorPage } from '../pages.ts';

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

/** The names of SignOnce's own cookies (apps never see them), under either of their names. */
export const ownCookieNames = (sessionCookie: string): ReadonlySet<string> =>
  new Set([
    sessionCookie,
    ...([LOGIN_COOKIE, SSO_COOKIE] as const).flatMap((name) => [
      ownCookie(name, false).name,
      ownCookie(name, true).name,
    ]),
  ]);

const loginBinding = (state: string) => ({ purpose: 'login-browser', owner: [state] });
const browserBinding = (host: string) => ({ purpose: 'handoff-browser', owner: [host] });

/** Sets the login cookie of `host`, keeping `browser` for the hand-off (handoff.ts browserOf). */
export function bindBrowser(ctx: GatewayContext, reply: FastifyReply, host: string, browser: string): void {
  const { name, path } = ownCookie(LOGIN_COOKIE, ctx.secure);
  reply.header(
    'set-cookie',
    setCookieHeader(name, ctx.keyring.seal(browser, browserBinding(host)), {
      secure: ctx.secure,
      maxAgeSeconds: CODE_TTL_MS['login-request'] / 1000,
      path,
    }),
  );
}

/** The `browser` value the login cookie of `host` keeps; undefined without one that opens. */
export function browserOf(ctx: GatewayContext, request: FastifyRequest, host: string): string | undefined {
  const cookie = readCookie(request.headers.cookie, ownCookie(LOGIN_COOKIE, ctx.secure).name);
  try {
    return cookie ? ctx.keyring.openString(cookie, browserBinding(host)) : undefined;
  } catch {
    return undefined;
  }
}

/** The login cookie goes: it served its one sign-in, whatever the outcome. */
export function clearLoginCookie(ctx: GatewayContext, reply: FastifyReply): void {
  const { name, path } = ownCookie(LOGIN_COOKIE, ctx.secure);
  reply.header('set-cookie', setCookieHeader(name, '', { secure: ctx.secure, maxAgeSeconds: 0, path }));
}

/** The cookie binding `state` to this browser, keeping what the callback needs (PKCE verifier, nonce). */
export function bindLogin(ctx: GatewayContext, reply: FastifyReply, state: string, pending: PendingSignIn): void {
  const { name, path } = ownCookie(LOGIN_COOKIE, ctx.secure);
  reply.header(
    'set-cookie',
    setCookieHeader(name, ctx.keyring.seal(JSON.stringify(pending), loginBinding(state)), {
      secure: ctx.secure,
      maxAgeSeconds: CODE_TTL_MS['login-state'] / 1000,
      path,
    }),
  );
}

/**
 * The sign-in in progress that `state` names, taken (single use), if this browser started it:
 * the login cookie must open under that state (login CSRF, RFC 9700 section 4.7). The cookie
 * goes either way. Undefined, logged, for an unknown, replayed or foreign state.
 */
export async function takeLogin(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  provider: Provider,
  state: string,
): Promise<{ login: LoginRequest; pending: PendingSignIn } | undefined> {
  const login = await consumeCode(ctx.store, 'login-state', state);
  const browser = readCookie(request.headers.cookie, ownCookie(LOGIN_COOKIE, ctx.secure).name);
  clearLoginCookie(ctx, reply);
  let pending: PendingSignIn | undefined;
  try {
    pending = login && browser ? JSON.parse(ctx.keyring.openString(browser, loginBinding(state))) : undefined;
  } catch {
    pending = undefined;
  }
  if (!login || login.provider !== provider.id || !pending) {
    await signInHappened(
      ctx,
      request,
      {
        provider: provider.id,
        outcome: 'refused',
        method: 'provider',
        reason: !login
          ? 'unknown or replayed state'
          : !pending
            ? 'state not bound to this browser'
            : 'state of another provider',
      },
      'sign-in refused: unknown, replayed or foreign state',
    );
    return undefined;
  }
  return { login, pending };
}

/** The same sign-in under a new state, bound to this browser (a form shown again after a mistake). */
export async function continueLogin(
  ctx: GatewayContext,
  reply: FastifyReply,
  login: LoginRequest,
  pending: PendingSignIn = {},
): Promise<string> {
  const state = await issueCode(ctx.store, 'login-state', login);
  bindLogin(ctx, reply, state, pending);
  return state;
}

/** A state takeLogin refused. */
export const loginExpired = (reply: FastifyReply) =>
  page(
    reply,
    400,
    errorPage(
      'Sign-in expired',
      'This sign-in was already completed, has expired, or was started in another browser. Start again from the app.',
    ),
  );
