// The HTTP server: Fastify with SignOnce's logger, and the gateway routes. Plugins own their
// routes; this file only assembles them.
import Fastify from 'fastify';
import { requestLogger, type Logger } from '../log/logger.ts';
import { requestIdOf, trustedProxyMatcher } from './rules/forwarded.ts';
import { gatewayRoutes, type GatewayDeps } from './routes.ts';

export interface ServerDeps extends GatewayDeps {
  readonly logger: Logger;
}

export function buildServer(deps: ServerDeps) {
  const { limits } = deps.config;
  const fromTrustedProxy = trustedProxyMatcher(deps.config.trustedProxies);
  const app = Fastify({
    genReqId: (request) => requestIdOf(request, fromTrustedProxy),
    loggerInstance: deps.logger,
    // Larger headers (cookies included) are answered 431 by Node; a client must send its headers
    // within headersTimeout and its whole request within requestTimeout, or the connection is
    // closed (408): slow clients cannot hold connections open (slowloris).
    // Node checks those timeouts every connectionsCheckingInterval (30 s by default): often enough here.
    http: {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeout,
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeout / 2),
    },
    requestTimeout: limits.requestTimeout,
    // Behind a load balancer the probes and keep-alive connections must not hold shutdown open.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // The parent is the pino logger given above.
    childLoggerFactory: (parent, bindings, options) => requestLogger(parent as Logger, bindings, options),
  });
  // Requests in flight when the stop begins are answered with Connection: close, or their
  // keep-alive connections would hold the stop open until the idle timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    // Nothing SignOnce answers itself is to be content-sniffed (its JSON included); answers of
    // apps are proxied as the app sent them.
    reply.header('x-content-type-options', 'nosniff');
    if (closing) reply.header('connection', 'close');
  });
  app.register(gatewayRoutes, deps);
  return app;
}
