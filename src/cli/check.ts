// `signonce check [--config FILE]`: validate a configuration without starting anything.
import { AccessControl } from '../access/control.ts';
import { ConfigError, formatDuration, loadConfig, resolveConfigPath, type Config } from '../config/index.ts';
import { PRESETS } from '../providers/presets.ts';
import { parseOptions, reportConfigError } from './usage.ts';

export const usage = 'signonce check [--config FILE]    validate a config: exit 0, or exit 2 with every problem listed';

// Providers anyone can have an account with: an app offering one without access rules is open to the world.
const PUBLIC_PROVIDER_TYPES = ['github', 'google', 'microsoftaccount', 'facebook', 'twitter', 'apple'];

/**
 * One line per app or OpenID client that every user of a public provider can reach: it offers
 * such a provider (apps: `providers`, else every one) and has no access rules.
 */
export function openAccessWarnings(config: Config): string[] {
  const open = (offers: (id: string) => boolean) => {
    const names = config.providers
      .filter((provider) => PUBLIC_PROVIDER_TYPES.includes(provider.type) && offers(provider.id))
      .map((provider) => PRESETS[provider.type]!.displayName);
    const unique = [...new Set(names)];
    return unique.length < 2 ? unique[0] : `${unique.slice(0, -1).join(', ')} or ${unique.at(-1)}`;
  };
  const warnings: string[] = [];
  for (const [i, app] of config.apps.entries()) {
    const who = open((id) => app.providers?.includes(id) ?? true);
    if (who && !app.access && !app.defaultAuthorizationPolicy)
      warnings.push(`every ${who} user can reach ${app.id} (apps[${i}] has no access rules)`);
  }
  for (const [i, client] of config.clients.entries()) {
    const who = open(() => true);
    if (who && !client.access)
      warnings.push(`every ${who} user can sign in to ${client.id} (clients[${i}] has no access rules)`);
  }
  return warnings;
}

/**
 * Where the admin console is and who may use it, rule by rule as it decides (the operator's own
 * conditions, private rules too: this is their config), or that it is off.
 */
export function adminConsoleLines(config: Config): string[] {
  const policy = new AccessControl(config, {
    read: () => Promise.reject(new Error('not read by check')),
  }).adminPolicy();
  if (!policy) return ['admin console: off (admin.access lists no rules)'];
  return [
    `admin console: ${new URL('/.auth/admin', config.publicUrl).href} (a sign-in within ${formatDuration(config.admin.freshSignIn)} for every page), for:`,
    ...policy.rules.map(
      (rule) =>
        `  ${rule.source} ${rule.effect}: ${rule.description ? `${rule.description} (${rule.condition.text})` : rule.condition.text}`,
    ),
    '  anyone else: refused',
  ];
}

export async function run(argv: string[]): Promise<number> {
  const options = parseOptions(argv, { config: { type: 'string' } }, usage);
  if (!options) return 2;
  const path = resolveConfigPath(options.config, process.env);
  try {
    const config = await loadConfig(path);
    for (const warning of openAccessWarnings(config)) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(`${path}: ok (${config.providers.length} providers, ${config.apps.length} apps)\n`);
    for (const line of adminConsoleLines(config)) process.stdout.write(`${line}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) return reportConfigError(error);
    throw error;
  }
}
