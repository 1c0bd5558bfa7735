// The HTTP server: Fastify with SignOnce's logger, and the gateway routes. Plugins own their
// routes; this file only assembles them.
import Fastify from 'fastify';
import { requestLogger, type Logger } from '../log/logger.ts';
import { gatewayRoutes, type GatewayDeps } from './routes.ts';

export interface ServerDeps extends GatewayDeps {
  readonly logger: Logger;
}

export function buildServer(deps: ServerDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Behind a load balancer the probes and keep-alive connections must not hold shutdown open.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // The parent is the pino logger given above.
    childLoggerFactory: (parent, bindings, options) => requestLogger(parent as Logger, bindings, options),
  });
  // Requests in flight when the stop begins are answered with Connection: close, or their
  // keep-alive connections would hold the stop open until the idle timeout.
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  app.addHook('onSend', async (_request, reply) => { if (closing) reply.header('connection', 'close'); });
  app.register(gatewayRoutes, deps);
  return app;
}
