// Running until asked to stop: SIGINT (Ctrl-C) or SIGTERM starts a graceful stop; a second signal,
// or a stop that hangs, ends the process at once.
import type { Logger } from '../log/logger.ts';

const STOP_TIMEOUT_MS = 15_000;

/** Waits for SIGINT or SIGTERM, then runs `stop`; resolves with the exit code. */
export async function runUntilSignal(logger: Logger, stop: () => Promise<void>): Promise<number> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'stopping: finishing requests in flight');
  const force = (reason: string) => {
    logger.error(reason);
    process.exit(1);
  };
  const onSecondSignal = () => force('stopped at once by a second signal');
  process.once('SIGINT', onSecondSignal);
  process.once('SIGTERM', onSecondSignal);
  const timer = setTimeout(
    () => force(`did not stop within ${STOP_TIMEOUT_MS / 1000} s; stopped at once`),
    STOP_TIMEOUT_MS,
  );
  timer.unref();
  try {
    await stop();
    logger.info('stopped');
    return 0;
  } catch (error) {
    logger.error({ err: error }, 'error while stopping');
    return 1;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSecondSignal);
    process.off('SIGTERM', onSecondSignal);
  }
}
