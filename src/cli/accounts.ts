// `signonce accounts delete|disable|enable ACCOUNT_ID`: an account however its users sign in (the
// id apps see as the authentication token's `sub` and the native sign-in's user id): deleted with
// everything of it, or disabled (no sign-in with any of its identities, signed out everywhere,
// its OpenID grants and tokens revoked) and enabled again.
import { setAccountDisabled } from '../accounts/accounts.ts';
import { auditCommand, parseCommandLine, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce accounts delete|disable|enable ACCOUNT_ID [--config FILE]',
  '                          delete an account with every identity, credential, token and session of it; or',
  '                          disable it (no sign-in with any identity, signed out everywhere) and enable it again',
].join('\n  ');

const ACTIONS = ['delete', 'disable', 'enable'] as const;
type Action = (typeof ACTIONS)[number];

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, { config: { type: 'string' } }, usage);
  if (!parsed) return 2;
  const [action, accountId, ...extra] = parsed.positionals;
  if (!ACTIONS.includes(action as Action) || accountId === undefined || extra.length) return usageError(usage);
  return withConfiguredStore(parsed.values.config, async (_config, store) => {
    const found =
      action === 'delete'
        ? await store.deleteAccount(accountId)
        : await setAccountDisabled(store, accountId, action === 'disable');
    if (!found) {
      process.stderr.write(`no account ${accountId}\n`);
      return 1;
    }
    await auditCommand(store, {
      kind: action === 'delete' ? 'account-deleted' : action === 'disable' ? 'account-disabled' : 'account-enabled',
      outcome: 'success',
      accountId,
    });
    process.stdout.write(
      action === 'delete'
        ? `deleted account ${accountId}: every identity, credential, token and session (signed out everywhere)\n`
        : action === 'disable'
          ? `disabled account ${accountId}: signed out everywhere, its OpenID grants and tokens revoked\n`
          : `enabled account ${accountId}\n`,
    );
    return 0;
  });
}
