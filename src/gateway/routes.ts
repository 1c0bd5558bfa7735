// Every request, by host: app hosts get the Easy Auth routes (/.auth/*) and the proxy; the auth
// host gets the provider hops, the keys and the probes; any other host gets the probes or 421.
// The sign-in flow lives in sign-in.ts, signing out in sign-out.ts, token endpoints in
// token-endpoints.ts, who a request is in signed-in.ts; this plugin dispatches and proxies.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/index.ts';
import { isAuthenticationTokenType } from '../session/authentication-tokens.ts';
import { accountRoutes } from './endpoints/account.ts';
import { gatewayContext, type GatewayDeps } from './context.ts';
import { isExcludedPath } from './rules/excluded-paths.ts';
import { healthz, readyz } from './endpoints/health.ts';
import { hostRouter, type HostRoute } from './rules/hosts.ts';
import { dropsForwardingHeader, forwardedHeaders, requestIdOf, trustedProxyMatcher } from './rules/forwarded.ts';
import { routeLabel } from './metrics.ts';
import { crossOrigin } from './rules/cross-origin.ts';
import { manyHosts, methodNotAllowed, page, pathOf, queryParam, redirect, tooManyRequests } from './http.ts';
import { forwardableHeaders } from './rules/identity-headers.ts';
import { devSignInForm, errorPage, signInPage, signedOutPage } from './pages.ts';
import { UpstreamProxy, endToEnd } from './proxy.ts';
import { bearerToken, type SignedIn } from '../session/signed-in.ts';
import { LOGIN_COOKIE, SSO_COOKIE, ownCookie, signInRoutes } from './endpoints/sign-in.ts';
import { signOutRoutes } from './endpoints/sign-out.ts';
import { refreshRoutes } from './endpoints/refresh.ts';
import { passwordRoutes } from './endpoints/password.ts';
import { externalRoutes } from './endpoints/external.ts';
import { oidcRoutes } from './endpoints/openid-provider.ts';
import { AccountDisabledError } from '../accounts/accounts.ts';
import { PasswordProvider } from '../providers/index.ts';
import { StoreUnavailableError } from '../store/index.ts';
import { invalidToken, tokenRoutes } from './endpoints/tokens.ts';
import { announcesBody, refuseUpgrade, tunnel } from './websocket.ts';

export type { GatewayDeps } from './context.ts';

/**
 * Which rate limit per client address a request counts against: every step of a sign-in (and of
 * linking, a third-party token's exchange, the OpenID Provider's sign-in and token endpoint), or a
 * refresh of tokens; undefined for the rest (signed-in users' requests are never limited here).
 */
export function rateLimitOf(host: HostRoute['kind'], path: string): 'sign-in' | 'refresh' | undefined {
  if (host === 'unknown') return undefined;
  if (/^\/\.auth\/(login|link|external)(\/|$)/.test(path) || (host === 'auth' && /^\/\.auth\/oidc\/(auth|interaction)(\/|$)/.test(path))) return 'sign-in';
  if (path === '/.auth/refresh' || path === '/.auth/token' || (host === 'auth' && path === '/.auth/oidc/token')) return 'refresh';
  return undefined;
}

export const gatewayRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const ctx = gatewayContext(deps, app.log);
  const { config, store, providers, publicUrl, signedIn, fromTrustedProxy, formTargets } = ctx;
  const route = hostRouter(config);
  // Apps never see SignOnce's cookies, under either of their names.
  const ownCookies = new Set([config.session.cookieName, ...([LOGIN_COOKIE, SSO_COOKIE] as const).flatMap((name) => [ownCookie(name, false).name, ownCookie(name, true).name])]);
  const proxy = new UpstreamProxy();
  // /metrics answers only scrapers (by the connection's address, never a forwarded one).
  const metricsAllowed = trustedProxyMatcher(config.metrics.allowFrom);
  // Every answer counted by route pattern and status, timed, however it was sent (proxied answers
  // are written by Node directly).
  app.addHook('onRequest', async (request, reply) => {
    const started = performance.now();
    reply.raw.once('close', () => {
      const host = route(request.headers.host).kind;
      const labels = { host, route: routeLabel(host, pathOf(request.url)) };
      ctx.metrics.requests.inc({ ...labels, status: String(reply.raw.statusCode) });
      ctx.metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
    });
  });
  app.addHook('preClose', async () => proxy.stopping());
  app.addHook('onClose', () => proxy.close());

  // Bodies of proxied requests are streamed to the upstream, never parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const signIn = signInRoutes(ctx);
  const { startLogin, finishLogin, clientDirectedLogin, providerStart, providerCallback, formPostCallback } = signIn;
  const passwordPages = passwordRoutes(ctx, signIn);
  // The OpenID Provider and sign-out each end what the other keeps: single logout both ways.
  const oidc = oidcRoutes(ctx, signIn, (session) => signOut.endSession(session));
  const signOut = signOutRoutes(ctx, oidc?.endAccountSessions);
  const { logout, logoutReturn } = signOut;
  const { exchange, keySet, discovery } = tokenRoutes(ctx);
  const { refresh, resourceToken, clientProviderToken } = refreshRoutes(ctx);
  const { me, link, unlink } = accountRoutes(ctx, startLogin);
  const { exchange: externalExchange } = externalRoutes(ctx);

  // --- app host -----------------------------------------------------------------------------

  function signInChoices(request: FastifyRequest, reply: FastifyReply) {
    const query = new URLSearchParams(request.url.split('?')[1] ?? '').toString();
    const choices = [...providers.values()].map((p) => ({ displayName: p.displayName, href: `/.auth/login/${encodeURIComponent(p.id)}${query ? `?${query}` : ''}` }));
    return page(reply, 200, signInPage(choices));
  }

  /** Not signed in: Easy Auth's unauthenticatedAction, with 401 for requests that are not navigations. */
  function unauthenticated(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig) {
    switch (appConfig.unauthenticatedAction) {
      case 'Return403':
        return reply.code(403).send({ error: 'not signed in' });
      case 'Return401':
        return reply.code(401).header('www-authenticate', `Bearer realm="${appConfig.id}"`).send({ error: 'not signed in' });
      default: {
        const navigation = request.headers['sec-fetch-mode'] === 'navigate' || (!request.headers['sec-fetch-mode'] && /text\/html/.test(request.headers.accept ?? ''));
        if (!navigation || request.method !== 'GET') return reply.code(401).header('www-authenticate', `Bearer realm="${appConfig.id}"`).send({ error: 'not signed in' });
        const back = `post_login_redirect_uri=${encodeURIComponent(request.url)}`;
        return redirect(reply, appConfig.defaultProvider ? `/.auth/login/${encodeURIComponent(appConfig.defaultProvider)}?${back}` : `/.auth/login?${back}`);
      }
    }
  }

  /** Cookie-authenticated requests that change state must come from the app's own pages (CSRF). */
  const crossSite = (request: FastifyRequest, host: string) => !['GET', 'HEAD', 'OPTIONS'].includes(request.method) && crossOrigin(request.headers, host);

  /**
   * The headers an app receives: the client's, cleaned (and, unless tunnelling an upgrade, without
   * hop-by-hop headers, so a client's `Connection` cannot name SignOnce's own), plus identity,
   * tokens and forwarding.
   */
  function headersToApp(raw: IncomingMessage, requestId: string, host: string, current: SignedIn | undefined, upgrade = false): Array<[string, string]> {
    const remoteAddress = raw.socket.remoteAddress ?? '';
    const trusted = fromTrustedProxy(remoteAddress);
    const bearer = bearerToken(raw.headers.authorization);
    const fromClient = forwardableHeaders(raw.rawHeaders, ownCookies, bearer !== undefined && isAuthenticationTokenType(bearer))
      .filter(([name]) => !dropsForwardingHeader(name, trusted) && name.toLowerCase() !== 'x-request-id');
    const headers = upgrade ? fromClient : endToEnd(fromClient);
    // The id in SignOnce's log lines of this request (forwarded.ts requestIdOf), for the app's.
    headers.push(['x-request-id', requestId]);
    if (current) headers.push(...current.identityHeaders);
    headers.push(...forwardedHeaders({ remoteAddress, trusted, headers: raw.headers, proto: publicUrl.protocol.slice(0, -1), host }));
    return headers;
  }

  /** Whether a request without a session may reach the app anyway. */
  const anonymousAllowed = (appConfig: AppConfig, url: string) =>
    appConfig.unauthenticatedAction === 'AllowAnonymous' || isExcludedPath(url, appConfig.excludedPaths);

  async function toApp(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const current = await signedIn.resolve(request, appConfig, host);
    if (current && 'refused' in current) return invalidToken(reply, appConfig, current.refused);
    if (current && !current.byToken && crossSite(request, host)) return reply.code(403).send({ error: 'cross-site request refused' });
    if (!current && !anonymousAllowed(appConfig, request.url)) return unauthenticated(request, reply, appConfig);
    const headers = headersToApp(request.raw, request.id, host, current);
    const started = performance.now();
    const outcome = await proxy.forward(appConfig.upstream, request.raw, headers, reply, appConfig.upstreamTimeout);
    ctx.metrics.upstreamSeconds.observe({ app: appConfig.id }, (performance.now() - started) / 1000);
    if (outcome === 'ok' || outcome === 'interrupted') {
      // Info, not warn: a client leaving mid-answer (a closed tab) is ordinary.
      if (outcome === 'interrupted') request.log.info({ app: appConfig.id }, `the answer of ${appConfig.id} ended early: the client left or the app broke off`);
      // Fastify logs completion only for the replies it sends; this one went out directly.
      reply.log.info({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
      return reply;
    }
    request.log.error({ app: appConfig.id, outcome }, `upstream of ${appConfig.id} ${outcome === 'timeout' ? 'did not answer in time' : 'is unreachable'}`);
    return outcome === 'timeout'
      ? page(reply, 504, errorPage('The app did not answer in time', 'Please try again in a moment.'))
      : page(reply, 502, errorPage('The app is not reachable', 'Please try again in a moment.'));
  }

  async function appHost(request: FastifyRequest, reply: FastifyReply, appConfig: AppConfig, host: string) {
    const path = pathOf(request.url);
    if (!path.startsWith('/.auth/')) return toApp(request, reply, appConfig, host);
    const clientDirected = request.method === 'POST' && /^\/\.auth\/login\/([^/]+)$/.exec(path);
    if (clientDirected) return clientDirectedLogin(request, reply, appConfig, decodeURIComponent(clientDirected[1]!));
    const external = /^\/\.auth\/external\/([^/]+)$/.exec(path);
    if (external) {
      return request.method === 'POST' ? externalExchange(request, reply, appConfig, host, decodeURIComponent(external[1]!)) : methodNotAllowed(reply, 'POST');
    }
    const unlinking = /^\/\.auth\/unlink\/([^/]+)$/.exec(path);
    if (unlinking) {
      return request.method === 'POST' ? unlink(request, reply, appConfig, host, decodeURIComponent(unlinking[1]!)) : methodNotAllowed(reply, 'POST');
    }
    if (path === '/.auth/exchange') {
      return request.method === 'POST' ? exchange(request, reply, appConfig) : methodNotAllowed(reply, 'POST');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(reply, 'GET');
    if (path === '/.auth/login') return signInChoices(request, reply);
    if (path === '/.auth/login/done') return finishLogin(request, reply, appConfig, host);
    if (path === '/.auth/me') return me(request, reply, appConfig, host);
    if (path === '/.auth/refresh') return refresh(request, reply, appConfig, host);
    if (path === '/.auth/token') return resourceToken(request, reply, appConfig, host);
    if (path === '/.auth/logout') return logout(request, reply, appConfig, host);
    if (path === '/.auth/logout/complete') return page(reply, 200, signedOutPage());
    const login = /^\/\.auth\/(login|link)\/([^/]+)$/.exec(path);
    if (login?.[1] === 'login') return startLogin(request, reply, appConfig, host, decodeURIComponent(login[2]!));
    if (login?.[1] === 'link') return link(request, reply, appConfig, host, decodeURIComponent(login[2]!));
    return reply.code(404).send({ error: 'no such /.auth endpoint' });
  }

  // --- auth host ----------------------------------------------------------------------------

  async function authHost(request: FastifyRequest, reply: FastifyReply) {
    const path = pathOf(request.url);
    if (oidc) {
      const interaction = /^\/\.auth\/oidc\/interaction\/([^/]+)(?:\/(.+))?$/.exec(path);
      if (interaction) return oidc.interaction(request, reply, interaction[1]!, interaction[2]);
      if (oidc.handles(path)) return oidc.serve(request, reply);
      if (path === '/.auth/token') return request.method === 'GET' ? clientProviderToken(request, reply, oidc.grantOf) : methodNotAllowed(reply, 'GET');
    }
    const hop = /^\/\.auth\/login\/([^/]+)\/(start|callback|form|register)$/.exec(path);
    const provider = hop && providers.get(decodeURIComponent(hop[1]!));
    if (provider instanceof PasswordProvider && (hop?.[2] === 'form' || hop?.[2] === 'register')) {
      const register = hop[2] === 'register';
      if (request.method === 'POST') return passwordPages.submit(request, reply, provider, register);
      if (request.method === 'GET') return passwordPages.showForm(request, reply, provider, register);
    }
    if (hop?.[2] === 'callback' && provider && request.method === 'POST') return formPostCallback(request, reply, path);
    if (hop && provider && request.method === 'GET') {
      if (hop[2] === 'start') return providerStart(request, reply, provider);
      if (hop[2] === 'callback') return providerCallback(request, reply, provider);
      if (provider.type === 'dev') {
        const state = queryParam(request, 'state') ?? '';
        return page(reply, 200, devSignInForm(`/.auth/login/${encodeURIComponent(provider.id)}/callback`, state), formTargets);
      }
    }
    if (path === '/.auth/logout/done' && request.method === 'GET') return logoutReturn(request, reply);
    if (request.method === 'GET' || request.method === 'HEAD') {
      if (path === '/.well-known/jwks.json') return keySet(request, reply);
      if (path === '/.well-known/openid-configuration') return discovery(reply);
    }
    return probesOr404(request, reply);
  }

  /** A sign-in to a disabled account: 401, a page for browsers, JSON for callers that sent JSON. */
  function accountDisabled(request: FastifyRequest, reply: FastifyReply, error: AccountDisabledError) {
    request.log.warn({ account: error.accountId }, 'sign-in refused: the account is disabled');
    if (/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
      return reply.code(401).header('cache-control', 'no-store').send({ error: 'account_disabled', reason: error.message });
    }
    return page(reply, 401, errorPage('Account disabled', error.message));
  }

  async function probesOr404(request: FastifyRequest, reply: FastifyReply) {
    const path = pathOf(request.url);
    if (path === '/metrics' && metricsAllowed(request.raw.socket.remoteAddress ?? '')) {
      const { body, contentType } = await ctx.metrics.exposition();
      return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
    }
    if (path !== '/healthz' && path !== '/readyz') return reply.code(404).send({ error: 'not found' });
    if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(reply, 'GET, HEAD');
    return path === '/healthz' ? healthz(request, reply) : readyz(store, request, reply);
  }

  // WebSocket upgrades bypass Fastify's routing: the same host routing, session, cross-origin check
  // (cross-site WebSocket hijacking) and headers, then a tunnel to the app.
  // Tunnels are long-lived and outside HTTP's in-flight accounting: a stop closes them (clients
  // reconnect, to another instance if there is one) instead of waiting for them.
  const tunnels = new Set<Duplex>();
  app.addHook('preClose', async () => { for (const socket of tunnels) socket.destroy(); });
  app.server.on('upgrade', (raw: IncomingMessage, socket: Duplex, head: Buffer) => {
    tunnels.add(socket);
    // Node hands the socket over without its error listener: a client's reset must not be thrown.
    socket.on('error', () => socket.destroy()).once('close', () => tunnels.delete(socket));
    void (async () => {
      // Framing first: a body the tunnel would not send (websocket.ts announcesBody).
      if (manyHosts(raw.rawHeaders) || announcesBody(raw.rawHeaders)) return refuseUpgrade(socket, 400, 'Bad Request');
      const target = route(raw.headers.host);
      if (target.kind !== 'app') return refuseUpgrade(socket, 421, 'Misdirected Request');
      const current = await signedIn.resolve(raw, target.app, target.host);
      if (current && 'refused' in current) return refuseUpgrade(socket, 401, 'Unauthorized');
      if (current && !current.byToken && crossOrigin(raw.headers, target.host)) return refuseUpgrade(socket, 403, 'Forbidden');
      if (!current && !anonymousAllowed(target.app, raw.url ?? '/')) return refuseUpgrade(socket, 401, 'Unauthorized');
      const headers = headersToApp(raw, requestIdOf(raw, fromTrustedProxy), target.host, current, true);
      tunnel(target.app.upstream, raw, headers, socket, head, (error) => app.log.warn({ err: error, app: target.app.id }, 'WebSocket upstream failed'));
    })().catch((error: unknown) => {
      app.log.error({ err: error }, 'WebSocket upgrade failed');
      refuseUpgrade(socket, 503, 'Service Unavailable');
    });
  });

  app.all('/*', async (request, reply) => {
    if (manyHosts(request.raw.rawHeaders)) return reply.code(400).send({ error: 'more than one Host header' });
    const target = route(request.headers.host);
    const limited = rateLimitOf(target.kind, pathOf(request.url));
    if (limited) {
      const wait = (limited === 'sign-in' ? ctx.rateLimits.signIn : ctx.rateLimits.refreshPerAddress).take(ctx.clientAddressOf(request.raw));
      if (wait > 0) {
        ctx.metrics.rateLimited.inc({ limit: limited });
        return tooManyRequests(reply, wait);
      }
    }
    try {
      if (target.kind === 'app') return await appHost(request, reply, target.app, target.host);
      if (target.kind === 'auth') return await authHost(request, reply);
      const path = pathOf(request.url);
      if (path === '/healthz' || path === '/readyz') return await probesOr404(request, reply);
      return reply.code(421).send({ error: `no app is configured for host ${JSON.stringify(request.headers.host ?? '')}` });
    } catch (error) {
      // Every way in refuses a disabled account (accounts.ts assertEnabled); the answer is one.
      if (error instanceof AccountDisabledError) return accountDisabled(request, reply, error);
      // The store being unreachable must not look like a sign-out: 503, sessions kept.
      if (error instanceof StoreUnavailableError) request.log.error({ reason: error.message }, 'the store is unreachable: answered 503');
      else request.log.error({ err: error }, 'request failed');
      return page(reply, 503, errorPage('Service unavailable', 'SignOnce cannot serve this request right now. Please try again in a moment.'));
    }
  });
};
