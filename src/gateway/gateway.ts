// A running gateway: the store opened with the configured keys, the server listening.
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.ts';
import { Keyring } from '../crypto/keyring.ts';
import type { Logger } from '../log/logger.ts';
import { createProviders } from '../providers/index.ts';
import { AuthenticationTokens } from '../session/authentication-tokens.ts';
import { FORGET_AFTER_MS } from '../accounts/throttle.ts';
import { startHousekeeping } from '../store/housekeeping.ts';
import { openStore } from '../store/index.ts';
import { GatewayMetrics } from './metrics.ts';
import { buildServer } from './server.ts';

const KEY_RELOAD_MS = 60_000;

export interface Gateway {
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Stops accepting, lets requests in flight finish, then closes the store. */
  close(): Promise<void>;
}

export async function startGateway(config: Config, logger: Logger): Promise<Gateway> {
  if (config.devMode) {
    logger.warn(
      'devMode is on: development-only features (such as the dev provider, which trusts whatever is typed) are enabled; never use it in production',
    );
  }
  const providers = createProviders(config);
  const keyring = new Keyring(config.secrets.encryptionKeys);
  const metrics = new GatewayMetrics();
  const store = await openStore(config.store, {
    keyring,
    observe: (operation, seconds) => metrics.storeSeconds.observe({ operation }, seconds),
  });
  store.watch((change) => {
    if (change.kind === 'deaf') {
      logger.error(
        { store: store.kind },
        "lost the connection on which other instances' changes are heard (is the store down?): nothing is cached until it is back, and requests that need the store get 503",
      );
    } else if (change.kind === 'hearing') {
      logger.info({ store: store.kind }, "the store is back: other instances' changes are heard again");
    }
  });
  let server;
  let reloadKeys: NodeJS.Timeout | undefined;
  let stopHousekeeping = () => {};
  try {
    const authenticationTokens = await AuthenticationTokens.open(store, {
      issuer: config.publicUrl,
      // A token may be used until its session ends, and at /.auth/refresh for the grace after.
      tokenValidityMs: config.session.lifetime + config.session.tokenRefreshExtensionHours * 3_600_000,
      hmacSecrets: new Map(
        config.apps.flatMap((a) =>
          a.tokenSigning ? [[a.id, new TextEncoder().encode(a.tokenSigning.secret)] as const] : [],
        ),
      ),
    });
    // The store tells of new signing keys at once (authentication-tokens.ts); this reload is the
    // safety net for a change it could not tell (several processes on one SQLite file).
    reloadKeys = setInterval(() => {
      authenticationTokens
        .reload()
        .catch((error: unknown) =>
          logger.warn({ err: error }, 'could not reload the token signing keys; the ones loaded stay in use'),
        );
    }, KEY_RELOAD_MS).unref();
    stopHousekeeping = startHousekeeping(store, {
      intervalMs: config.housekeeping.interval,
      keep: {
        renewableMs: config.session.tokenRefreshExtensionHours * 3_600_000,
        signInFailuresMs: FORGET_AFTER_MS,
        auditMs: config.audit.retention,
      },
      purged: (counts) => logger.info({ purged: counts }, 'housekeeping: deleted what can no longer be used'),
      failed: (error) => logger.warn({ err: error }, 'housekeeping failed; it runs again at the next interval'),
    });
    server = buildServer({ config, store, keyring, providers, authenticationTokens, logger, metrics });
    await server.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    clearInterval(reloadKeys);
    stopHousekeeping();
    await server?.close();
    await store.close();
    throw error;
  }
  const { address, port, family } = server.server.address() as AddressInfo;
  const url = `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  // The store URL may hold a password: only its kind is logged.
  logger.info({ url, publicUrl: config.publicUrl, store: store.kind }, `listening on ${url}`);
  return {
    url,
    async close() {
      clearInterval(reloadKeys);
      stopHousekeeping();
      await server.close();
      await store.close();
    },
  };
}
