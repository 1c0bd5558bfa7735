// `signonce accounts delete ACCOUNT_ID`: an account however its users sign in (the id apps see as
// the authentication token's `sub` and the native sign-in's user id), with everything of it.
import { parseCommandLine, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce accounts delete ACCOUNT_ID [--config FILE]',
  '                          delete an account with every identity, credential, token and session of it',
].join('\n  ');

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, { config: { type: 'string' } }, usage);
  if (!parsed) return 2;
  const [action, accountId, ...extra] = parsed.positionals;
  if (action !== 'delete' || accountId === undefined || extra.length) return usageError(usage);
  return withConfiguredStore(parsed.values.config, async (_config, store) => {
    if (!await store.deleteAccount(accountId)) {
      process.stderr.write(`no account ${accountId}\n`);
      return 1;
    }
    process.stdout.write(`deleted account ${accountId}: every identity, credential, token and session (signed out everywhere)\n`);
    return 0;
  });
}
