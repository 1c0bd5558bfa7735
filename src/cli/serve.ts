// `signonce serve [--config FILE]`: run the gateway until SIGINT or SIGTERM.
import { ConfigError, loadConfig, resolveConfigPath, type Config } from '../config/index.ts';
import { startGateway } from '../gateway/gateway.ts';
import { createLogger } from '../log/logger.ts';
import { runUntilSignal } from './lifecycle.ts';
import { parseOptions, reportConfigError } from './usage.ts';

export const usage =
  'signonce serve [--config FILE]    run the gateway (config: FILE, else $SIGNONCE_CONFIG, else ./signonce.yaml)';

/** Runs the gateway of `config` until a signal stops it; the exit code. */
export async function serveConfig(config: Config, onListening?: (url: string) => void): Promise<number> {
  const logger = createLogger({ level: config.log.level });
  let gateway;
  try {
    gateway = await startGateway(config, logger);
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? `${config.listen.host}:${config.listen.port} is already in use; choose another listen.port (or --port for the demo)`
        : (error as Error).message;
    logger.fatal({ err: error }, `cannot start: ${reason}`);
    return 1;
  }
  onListening?.(gateway.url);
  return runUntilSignal(logger, gateway.close);
}

export async function run(argv: string[]): Promise<number> {
  const options = parseOptions(argv, { config: { type: 'string' } }, usage);
  if (!options) return 2;
  try {
    return await serveConfig(await loadConfig(resolveConfigPath(options.config, process.env)));
  } catch (error) {
    if (error instanceof ConfigError) return reportConfigError(error);
    throw error;
  }
}
