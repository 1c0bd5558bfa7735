import { userInfo } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AuditLog, type AuditRecord } from '../audit/audit-log.ts';
import { ConfigError, loadConfig, resolveConfigPath, type Config } from '../config/index.ts';
import { Keyring } from '../crypto/keyring.ts';
import { openStore, type Store } from '../store/index.ts';

/** Prints a usage message to stderr; returns the exit code of a usage error. */
export function usageError(usage: string, problem?: string): number {
  process.stderr.write(`${problem ? `${problem}\n` : ''}usage: ${usage}\n`);
  return 2;
}

/** Parses options strictly; undefined (after printing usage) when they are wrong. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
) {
  return parseCommandLine(argv, options, usage)?.values;
}

/** Parses options strictly, with positional arguments; undefined (after printing usage) when they are wrong. */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    usageError(usage, (error as Error).message);
    return undefined;
  }
}

/**
 * Runs `use` with the configuration (--config, else $SIGNONCE_CONFIG, else ./signonce.yaml); a
 * configuration that cannot be used is reported (exit 2).
 */
export async function withConfig(
  configOption: string | undefined,
  use: (config: Config) => Promise<number>,
): Promise<number> {
  let config;
  try {
    config = await loadConfig(resolveConfigPath(configOption, process.env));
  } catch (error) {
    if (error instanceof ConfigError) return reportConfigError(error);
    throw error;
  }
  return use(config);
}

/** Runs `use` with the configuration (withConfig) and its store, closed afterwards. */
export function withConfiguredStore(
  configOption: string | undefined,
  use: (config: Config, store: Store) => Promise<number>,
): Promise<number> {
  return withConfig(configOption, async (config) => {
    const store = await openStore(config.store, { keyring: new Keyring(config.secrets.encryptionKeys) });
    try {
      return await use(config, store);
    } finally {
      await store.close();
    }
  });
}

/** Prints every problem of a config that cannot be used; returns the exit code for it. */
export function reportConfigError(error: ConfigError): number {
  process.stderr.write(`${error.message}\n`);
  return 2;
}

/** The operating-system user running the command, when the system can name them. */
function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * Audits what an operator's command changed: actor `cli`, the operating-system user in
 * `detail.osUser`, the command line's words (never a password: those come from standard input).
 */
export function auditCommand(
  store: Store,
  event: Omit<AuditRecord, 'actor' | 'userAgent'> & { readonly detail?: Record<string, unknown> },
): Promise<unknown> {
  const log = { error: (_details: object, message: string) => process.stderr.write(`${message}\n`) };
  return new AuditLog(store, log).record({
    ...event,
    actor: 'cli',
    userAgent: `signonce ${process.argv.slice(2, 4).join(' ')}`,
    detail: { ...event.detail, osUser: osUser() },
  });
}
