// A request on an app host that is the app's: who it is (session/signed-in.ts), whether it may
// pass (Easy Auth's unauthenticatedAction, excluded paths, the cross-site check), the headers the
// app receives, and the proxied answer. WebSocket upgrades (routes.ts) use the same steps.
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/index.ts';
import { isAuthenticationTokenType } from '../session/authentication-tokens.ts';
import { bearerToken } from '../session/credentials.ts';
import type { SignedIn } from '../session/signed-in.ts';
import { proxiedRefusal, refuseAccess } from './access.ts';
import type { GatewayContext } from './context.ts';
import { CROSS_SITE_REFUSED, NOT_SIGNED_IN, invalidToken, sendError } from './errors.ts';
import { isNavigation, page, redirect } from './http.ts';
import { errorPage, signInPage } from './pages.ts';
import { endToEnd } from './proxy.ts';
import { crossOrigin } from './rules/cross-origin.ts';
import { isExcludedPath } from './rules/excluded-paths.ts';
import { dropsForwardingHeader, forwardedHeaders } from './rules/forwarded.ts';
import { forwardableHeaders } from './rules/identity-headers.ts';

/** GET /.auth/login: a choice of the providers the app offers, the query passed on to each. */
export function signInChoices(ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig) {
  const query = new URLSearchParams(request.url.split('?')[1] ?? '').toString();
  const choices = ctx.signInProviders(appConfig).map((p) => ({
    displayName: p.displayName,
    href: `/.auth/login/${encodeURIComponent(p.id)}${query ? `?${query}` : ''}`,
  }));
  return page(reply, 200, signInPage(choices));
}

/** Not signed in: Easy Auth's unauthenticatedAction, with 401 for requests that are not navigations. */
function unauthenticated(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig) {
  const unauthorized = () =>
    sendError(reply, 401, NOT_SIGNED_IN, { 'www-authenticate': `Bearer realm="${appConfig.id}"` });
  switch (appConfig.unauthenticatedAction) {
    case 'Return403':
      return sendError(reply, 403, NOT_SIGNED_IN);
    case 'Return401':
      return unauthorized();
    default: {
      if (!isNavigation(request) || request.method !== 'GET') return unauthorized();
      const back = `post_login_redirect_uri=${encodeURIComponent(request.url)}`;
      return redirect(
        reply,
        appConfig.defaultProvider
          ? `/.auth/login/${encodeURIComponent(appConfig.defaultProvider)}?${back}`
          : `/.auth/login?${back}`,
      );
    }
  }
}

/** Cookie-authenticated requests that change state must come from the app's own pages (CSRF). */
const crossSite = (request: FastifyRequest, host: string) =>
  !['GET', 'HEAD', 'OPTIONS'].includes(request.method) && crossOrigin(request.headers, host);

/**
 * The headers an app receives: the client's, cleaned (and, unless tunnelling an upgrade, without
 * hop-by-hop headers, so a client's `Connection` cannot name SignOnce's own), plus identity,
 * tokens and forwarding.
 */
export function headersToApp(
  ctx: GatewayContext,
  raw: IncomingMessage,
  requestId: string,
  host: string,
  current: SignedIn | undefined,
  upgrade = false,
): Array<[string, string]> {
  const remoteAddress = raw.socket.remoteAddress ?? '';
  const trusted = ctx.fromTrustedProxy(remoteAddress);
  const bearer = bearerToken(raw.headers.authorization);
  const fromClient = forwardableHeaders(
    raw.rawHeaders,
    ctx.ownCookies,
    bearer !== undefined && isAuthenticationTokenType(bearer),
  ).filter(([name]) => !dropsForwardingHeader(name, trusted) && name.toLowerCase() !== 'x-request-id');
  const headers = upgrade ? fromClient : endToEnd(fromClient);
  // The id in SignOnce's log lines of this request (forwarded.ts requestIdOf), for the app's.
  headers.push(['x-request-id', requestId]);
  if (current) headers.push(...current.identityHeaders);
  headers.push(
    ...forwardedHeaders({
      remoteAddress,
      trusted,
      headers: raw.headers,
      proto: ctx.publicUrl.protocol.slice(0, -1),
      host,
    }),
  );
  return headers;
}

/** Whether a request without a session may reach the app anyway. */
export const anonymousAllowed = (appConfig: AppConfig, url: string) =>
  appConfig.unauthenticatedAction === 'AllowAnonymous' || isExcludedPath(url, appConfig.excludedPaths);

/** The request, if it may pass, proxied to the app, with the app's answer (or 502/504 pages). */
export async function toApp(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  host: string,
) {
  const current = await ctx.signedIn.resolve(request, appConfig, host);
  if (current && 'refused' in current) return invalidToken(reply, appConfig, current.refused);
  if (current && !current.byToken && crossSite(request, host)) return sendError(reply, 403, CROSS_SITE_REFUSED);
  if (!current && !anonymousAllowed(appConfig, request.url)) return unauthenticated(request, reply, appConfig);
  const refusal = current && proxiedRefusal(ctx, current, appConfig, request);
  if (current && refusal) return refuseAccess(ctx, request, reply, appConfig, current, refusal);
  const headers = headersToApp(ctx, request.raw, request.id, host, current);
  const started = performance.now();
  const outcome = await ctx.proxy.forward(appConfig.upstream, request.raw, headers, reply, appConfig.upstreamTimeout);
  ctx.metrics.upstreamSeconds.observe({ app: appConfig.id }, (performance.now() - started) / 1000);
  if (outcome === 'ok' || outcome === 'interrupted') {
    // Info, not warn: a client leaving mid-answer (a closed tab) is ordinary.
    if (outcome === 'interrupted')
      request.log.info(
        { app: appConfig.id },
        `the answer of ${appConfig.id} ended early: the client left or the app broke off`,
      );
    // Fastify logs completion only for the replies it sends; this one went out directly.
    reply.log.info({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    return reply;
  }
  request.log.error(
    { app: appConfig.id, outcome },
    `upstream of ${appConfig.id} ${outcome === 'timeout' ? 'did not answer in time' : 'is unreachable'}`,
  );
  return outcome === 'timeout'
    ? page(reply, 504, errorPage('The app did not answer in time', 'Please try again in a moment.'))
    : page(reply, 502, errorPage('The app is not reachable', 'Please try again in a moment.'));
}
