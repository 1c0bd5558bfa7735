// Every request, by host and the route table (route-table.ts): app hosts get the Easy Auth routes
// (/.auth/*) and the proxy; the auth host gets the provider hops, the keys and the probes; any
// other host gets the probes or 421. The endpoints live in endpoints/, a request that is the app's
// goes on through to-app.ts; this plugin registers, rate-limits and dispatches.
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { accountRoutes } from './endpoints/account.ts';
import { accountPageRoutes } from './endpoints/account-page.ts';
import { adminRoutes } from './endpoints/admin.ts';
import { gatewayContext, type GatewayDeps } from './context.ts';
import { healthz, readyz } from './endpoints/health.ts';
import { requestIdOf, trustedProxyMatcher } from './rules/forwarded.ts';
import { routeLabel } from './metrics.ts';
import { manyHosts, pathOf } from './http.ts';
import {
  MANY_HOSTS,
  NOT_FOUND,
  NOT_PROXIED,
  NO_SUCH_AUTH_ENDPOINT,
  answerError,
  logKeysUnavailable,
  methodNotAllowed,
  sendError,
  tooManyRequests,
} from './errors.ts';
import { signOutRoutes } from './endpoints/sign-out.ts';
import { refreshRoutes } from './endpoints/refresh.ts';
import { passwordRoutes } from './endpoints/password.ts';
import { externalRoutes } from './endpoints/external.ts';
import { oidcRoutes } from './endpoints/openid-provider.ts';
import { tokenRoutes } from './endpoints/tokens.ts';
import { announcesBody, refuseUpgrade, tunnel } from './websocket.ts';
import { VERIFY_PATH } from './rules/forward-auth.ts';
import { admission, headersToApp, toApp } from './to-app.ts';
import { refusalHappened } from './access.ts';
import { rawAuditOrigin, recordAudit } from './audit.ts';
import { AccountDisabledError } from '../accounts/accounts.ts';
import { routes, type Call, type Endpoints, type HostKind, type RateLimitClass } from './route-table.ts';

export type { GatewayDeps } from './context.ts';

/**
 * Which rate limit per client address a request counts against (its route's, route-table.ts):
 * every step of a sign-in (and of linking, a third-party token's exchange, the OpenID Provider's
 * sign-in and token endpoint), or a refresh of tokens; undefined for the rest (signed-in users'
 * requests are never limited here).
 */
export const rateLimitOf = (host: HostKind, path: string): RateLimitClass | undefined =>
  routes.named(host, path)?.rateLimit;

export const gatewayRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const ctx = gatewayContext(deps, app.log);
  const { config, store, fromTrustedProxy, proxy } = ctx;
  const route = ctx.hostOf;
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
  // Events still being appended are written before the store closes (gateway.ts closes it after).
  app.addHook('onClose', () => ctx.audit.settled());

  // Bodies of proxied requests are streamed to the upstream, never parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  // The OpenID Provider and sign-out each end what the other keeps: single logout both ways.
  const oidc = oidcRoutes(ctx, (session) => signOut.endSession(session, { app: 'oidc' }));
  const signOut = signOutRoutes(ctx, oidc?.endAccountSessions);
  const endpoints: Endpoints = {
    ctx,
    oidc,
    signOut,
    password: passwordRoutes(ctx),
    tokens: tokenRoutes(ctx),
    refresh: refreshRoutes(ctx),
    account: accountRoutes(ctx),
    accountPage: accountPageRoutes(ctx, signOut.endSession),
    admin: adminRoutes(ctx),
    external: externalRoutes(ctx),
    probe,
    unmatched,
  };

  /** Health, readiness (any host but an app's), metrics (the auth host, for `metrics.allowFrom` only). */
  async function probe(call: Call, which: 'healthz' | 'readyz' | 'metrics') {
    const { request, reply } = call;
    if (which === 'healthz') return healthz(request, reply);
    if (which === 'readyz') return readyz(store, request, reply);
    if (call.target.kind !== 'auth' || !metricsAllowed(request.raw.socket.remoteAddress ?? '')) return unmatched(call);
    const { body, contentType } = await ctx.metrics.exposition();
    return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
  }

  /** No route: the app's on app hosts (but /.auth/*), 404 on the auth host, 421 on a host of no app. */
  function unmatched({ request, reply, target }: Call) {
    if (target.kind === 'app') {
      if (pathOf(request.url).startsWith('/.auth/')) return sendError(reply, 404, NO_SUCH_AUTH_ENDPOINT);
      if (target.app.upstream === undefined || target.app.mode === 'forwardAuth')
        return sendError(reply, 404, NOT_PROXIED);
      return toApp(ctx, request, reply, target.app, target.app.upstream, target.host);
    }
    if (target.kind === 'auth') return sendError(reply, 404, NOT_FOUND);
    return sendError(reply, 421, {
      error: `no app is configured for host ${JSON.stringify(request.headers.host ?? '')}`,
    });
  }

  // WebSocket upgrades bypass Fastify's routing: the same host routing, session, cross-origin check
  // (cross-site WebSocket hijacking) and headers, then a tunnel to the app.
  // Tunnels are long-lived and outside HTTP's in-flight accounting: a stop closes them (clients
  // reconnect, to another instance if there is one) instead of waiting for them.
  const tunnels = new Set<Duplex>();
  app.addHook('preClose', async () => {
    for (const socket of tunnels) socket.destroy();
  });
  app.server.on('upgrade', (raw: IncomingMessage, socket: Duplex, head: Buffer) => {
    tunnels.add(socket);
    // Node hands the socket over without its error listener: a client's reset must not be thrown.
    socket.on('error', () => socket.destroy()).once('close', () => tunnels.delete(socket));
    void (async () => {
      // Framing first: a body the tunnel would not send (websocket.ts announcesBody).
      if (manyHosts(raw.rawHeaders) || announcesBody(raw.rawHeaders)) return refuseUpgrade(socket, 400, 'Bad Request');
      // A forward-auth proxy asking about an upgrade may pass the client's Upgrade on (Caddy's
      // forward_auth does): /.auth/verify answers it as the plain request it is, then closes.
      if (pathOf(raw.url ?? '/').startsWith(VERIFY_PATH)) return answerAsRequest(raw, socket);
      const target = route(raw.headers.host);
      if (target.kind !== 'app') return refuseUpgrade(socket, 421, 'Misdirected Request');
      const { upstream, mode } = target.app;
      if (upstream === undefined || mode === 'forwardAuth') return refuseUpgrade(socket, 404, 'Not Found');
      const url = raw.url ?? '/';
      const requestId = requestIdOf(raw, fromTrustedProxy);
      const admitted = await admission(ctx, raw, target.app, target.host, { url, method: raw.method ?? 'GET' });
      if ('refused' in admitted) {
        const { refused } = admitted;
        if (refused.kind === 'access-denied')
          refusalHappened(ctx, app.log, rawAuditOrigin(ctx, raw, requestId), target.app, refused.who, refused.decision);
        if (refused.kind === 'keys-unavailable') {
          logKeysUnavailable(app.log, refused.error);
          return refuseUpgrade(socket, 503, 'Service Unavailable');
        }
        return refused.kind === 'cross-site' || refused.kind === 'access-denied'
          ? refuseUpgrade(socket, 403, 'Forbidden')
          : refuseUpgrade(socket, 401, 'Unauthorized');
      }
      const current = admitted.admitted;
      const headers = headersToApp(ctx, raw, requestId, target.host, current, true);
      tunnel(upstream, raw, headers, socket, head, (error) =>
        app.log.warn({ err: error, app: target.app.id }, 'WebSocket upstream failed'),
      );
    })().catch((error: unknown) => {
      app.log.error({ err: error }, 'WebSocket upgrade failed');
      refuseUpgrade(socket, 503, 'Service Unavailable');
    });
  });

  /** An upgrade request answered by the routes as any request, on a connection that then closes. */
  function answerAsRequest(raw: IncomingMessage, socket: Duplex) {
    const response = new ServerResponse(raw);
    response.shouldKeepAlive = false;
    response.assignSocket(socket as Socket);
    response.once('finish', () => socket.end());
    app.server.emit('request', raw, response);
  }

  app.all('/*', async (request, reply) => {
    if (manyHosts(request.raw.rawHeaders)) return sendError(reply, 400, MANY_HOSTS);
    const target = route(request.headers.host);
    const path = pathOf(request.url);
    const limited = rateLimitOf(target.kind, path);
    if (limited) {
      const wait = (limited === 'sign-in' ? ctx.rateLimits.signIn : ctx.rateLimits.refreshPerAddress).take(
        ctx.clientAddressOf(request.raw),
      );
      if (wait > 0) {
        ctx.metrics.rateLimited.inc({ limit: limited });
        return tooManyRequests(reply, wait);
      }
    }
    try {
      const found = routes.find(target.kind, request.method, path);
      if (!found) return await unmatched({ request, reply, target, params: {} });
      if (!found.route) return methodNotAllowed(reply, found.allow);
      return await found.route.handler(endpoints, { request, reply, target, params: found.params });
    } catch (error) {
      // Whichever way of signing in found the account disabled, the refusal is audited here, once.
      if (error instanceof AccountDisabledError)
        await recordAudit(ctx, request, {
          kind: 'sign-in',
          outcome: 'refused',
          accountId: error.accountId,
          detail: { reason: 'the account is disabled' },
        });
      return answerError(request, reply, error);
    }
  });
};
