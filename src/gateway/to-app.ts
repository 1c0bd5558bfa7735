// A request on an app host that is the app's: whether it may pass (admission: who it is, Easy
// Auth's unauthenticatedAction, excluded paths, the cross-site check, access rules) and the answer
// when it may not, the headers the app receives, and the proxied answer. WebSocket upgrades
// (routes.ts) and forward-auth's /.auth/verify (endpoints/forward-auth.ts) are admitted alike.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IssuerUnavailable } from '../accounts/external-issuers.ts';
import type { AppConfig } from '../config/index.ts';
import { isAuthenticationTokenType } from '../session/authentication-tokens.ts';
import { bearerToken } from '../session/credentials.ts';
import type { SignedIn } from '../session/signed-in.ts';
import type { AccessDecision } from '../access/rules.ts';
import type { UnmetRequirement } from '../access/step-up.ts';
import { proxiedRefusal, refuseAccess, signInLocation, type AccessTarget } from './access.ts';
import type { GatewayContext } from './context.ts';
import {
  CROSS_SITE_REFUSED,
  NOT_SIGNED_IN,
  insufficientAuthentication,
  invalidToken,
  keysUnavailable,
  sendError,
} from './errors.ts';
import { resourceMetadataUrl } from './endpoints/protected-resource.ts';
import { isNavigation, page, redirect } from './http.ts';
import { errorPage, signInPage } from './pages.ts';
import { endToEnd } from './proxy.ts';
import { bearerChallenge } from './rules/bearer-challenge.ts';
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

/** Why a request may not reach the app (admission), answered by answerRefusal. */
export type Refusal =
  | { kind: 'invalid-token'; why: string }
  | { kind: 'keys-unavailable'; error: IssuerUnavailable }
  | { kind: 'cross-site' }
  | { kind: 'not-signed-in' }
  | { kind: 'access-denied'; who: SignedIn; decision: AccessDecision }
  /** Let in by a rule whose `require` the sign-in falls short of: sign in again (step-up). */
  | { kind: 'step-up'; who: SignedIn; decision: AccessDecision; unmet: UnmetRequirement };

/**
 * Cookie-authenticated requests that change state must come from the app's own pages (CSRF), and
 * so must WebSocket upgrades, GETs that open a channel (cross-site WebSocket hijacking, RFC 6455
 * section 10.2), whether SignOnce tunnels them or a forward-auth proxy does.
 */
const crossSite = (method: string, headers: IncomingHttpHeaders, host: string) =>
  (!['GET', 'HEAD', 'OPTIONS'].includes(method) || headers.upgrade !== undefined) && crossOrigin(headers, host);

/** Whether a request without a session may reach the app anyway. */
const anonymousAllowed = (appConfig: AppConfig, url: string) =>
  appConfig.unauthenticatedAction === 'AllowAnonymous' || isExcludedPath(url, appConfig.excludedPaths);

/**
 * Whether a request may reach the app, the same for every way it arrives (proxied, WebSocket
 * upgrade, forward-auth's /.auth/verify): who it is, Easy Auth's unauthenticatedAction and
 * excludedPaths, the cross-site check for cookies, the app's access rules. `target` is the
 * request as the app sees it (for forward-auth, the original request the proxy describes);
 * `request` carries its headers.
 */
export async function admission(
  ctx: GatewayContext,
  request: { headers: IncomingHttpHeaders },
  appConfig: AppConfig,
  host: string,
  target: AccessTarget,
): Promise<{ admitted: SignedIn | undefined } | { refused: Refusal }> {
  const current = await ctx.signedIn.resolve(request, appConfig, host);
  if (current && 'refused' in current) return { refused: { kind: 'invalid-token', why: current.refused } };
  if (current && 'unavailable' in current) return { refused: { kind: 'keys-unavailable', error: current.unavailable } };
  if (current && !current.byToken && crossSite(target.method, request.headers, host))
    return { refused: { kind: 'cross-site' } };
  if (!current && !anonymousAllowed(appConfig, target.url)) return { refused: { kind: 'not-signed-in' } };
  const refused = current && proxiedRefusal(ctx, current, appConfig, target);
  if (current && refused)
    return {
      refused: refused.stepUp
        ? { kind: 'step-up', who: current, decision: refused.decision, unmet: refused.stepUp }
        : { kind: 'access-denied', who: current, decision: refused.decision },
    };
  return { admitted: current };
}

/**
 * The answer to a refused request at the app on `host`. Not signed in: Easy Auth's
 * unauthenticatedAction, with 401 for requests that are not navigations; a navigation is sent to
 * sign in with a 302, unless the asker cannot pass a redirect on (nginx's auth_request: its snippet
 * asks again for the answer to send). A refused token is 401 whatever unauthenticatedAction says
 * (RFC 6750 section 3.1: never a redirect). 401s point to the app's protected-resource metadata
 * when it names authorization servers (RFC 9728 section 5.1).
 */
export function answerRefusal(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  host: string,
  target: AccessTarget,
  refusal: Refusal,
  redirects = true,
) {
  const resourceMetadata = resourceMetadataUrl(ctx, appConfig, host);
  switch (refusal.kind) {
    case 'invalid-token':
      return invalidToken(reply, appConfig, refusal.why, resourceMetadata);
    case 'keys-unavailable':
      return keysUnavailable(request, reply, refusal.error);
    case 'cross-site':
      return sendError(reply, 403, CROSS_SITE_REFUSED);
    case 'access-denied':
      return refuseAccess(ctx, request, reply, appConfig, target, refusal.who, refusal.decision);
    case 'step-up': {
      // A browser signs in again (prompt=login), asked for a second factor when that is what is
      // missing; anyone else is told what to get (RFC 9470 section 3).
      const { unmet } = refusal;
      if (isNavigation(request) && target.method === 'GET' && redirects && !refusal.who.byToken)
        return redirect(reply, signInLocation(appConfig, target.url, 'login', unmet));
      return insufficientAuthentication(reply, appConfig, unmet, resourceMetadata);
    }
  }
  const unauthorized = () =>
    sendError(reply, 401, NOT_SIGNED_IN, {
      'www-authenticate': bearerChallenge({ realm: appConfig.id, resourceMetadata }),
    });
  switch (appConfig.unauthenticatedAction) {
    case 'Return403':
      return sendError(reply, 403, NOT_SIGNED_IN);
    case 'Return401':
      return unauthorized();
    default: {
      if (!isNavigation(request) || target.method !== 'GET' || !redirects) return unauthorized();
      return redirect(reply, signInLocation(appConfig, target.url));
    }
  }
}

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

/** The request, if it may pass, proxied to the app, with the app's answer (or 502/504 pages). */
export async function toApp(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  appConfig: AppConfig,
  upstream: string,
  host: string,
) {
  const admitted = await admission(ctx, request, appConfig, host, request);
  if ('refused' in admitted) return answerRefusal(ctx, request, reply, appConfig, host, request, admitted.refused);
  const current = admitted.admitted;
  const headers = headersToApp(ctx, request.raw, request.id, host, current);
  const started = performance.now();
  const outcome = await ctx.proxy.forward(upstream, request.raw, headers, reply, appConfig.upstreamTimeout);
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
