// `signonce check [--config FILE]`: validate a configuration without starting anything.
import { ConfigError, loadConfig, resolveConfigPath } from '../config/index.ts';
import { parseOptions, reportConfigError } from './usage.ts';

export const usage = 'signonce check [--config FILE]    validate a config: exit 0, or exit 2 with every problem listed';

export async function run(argv: string[]): Promise<number> {
  const options = parseOptions(argv, { config: { type: 'string' } }, usage);
  if (!options) return 2;
  const path = resolveConfigPath(options.config, process.env);
  try {
    const config = await loadConfig(path);
    process.stdout.write(`${path}: ok (${config.providers.length} providers, ${config.apps.length} apps)\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) return reportConfigError(error);
    throw error;
  }
}
