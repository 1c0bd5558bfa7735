import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ConfigError } from '../config/index.ts';

/** Prints a usage message to stderr; returns the exit code of a usage error. */
export function usageError(usage: string, problem?: string): number {
  process.stderr.write(`${problem ? `${problem}\n` : ''}usage: ${usage}\n`);
  return 2;
}

/** Parses options strictly; undefined (after printing usage) when they are wrong. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    usageError(usage, (error as Error).message);
    return undefined;
  }
}

/** Prints every problem of a config that cannot be used; returns the exit code for it. */
export function reportConfigError(error: ConfigError): number {
  process.stderr.write(`${error.message}\n`);
  return 2;
}
