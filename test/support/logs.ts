import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/logger.ts';

/** A SignOnce logger whose lines are kept, raw, for a test to read. */
export function capturedLogger(level: 'trace' | 'info' | 'warn' = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}
