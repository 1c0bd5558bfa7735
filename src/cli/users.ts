// `signonce users add|set-password|disable|enable|delete USERNAME`: local accounts of a
// `type: password` provider. Passwords are read from standard input (typed without echo on a
// terminal, or piped), never from the command line, where other users of the machine see them.
import { passwordProviderNamed } from '../providers/password.ts';
import { LocalAccounts } from '../accounts/local-accounts.ts';
import { normaliseUsername } from '../accounts/passwords.ts';
import type { AuditKind } from '../audit/audit-log.ts';
import { auditCommand, parseCommandLine, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce users add|set-password|disable|enable|delete USERNAME [--config FILE] [--provider ID]',
  '                          local accounts of a password provider (the only one, or --provider); add and',
  '                          set-password read the password from standard input; disable and delete act on the',
  '                          whole account (every identity of it); set-password and disable sign it out everywhere',
].join('\n  ');

const ACTIONS = ['add', 'set-password', 'disable', 'enable', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

/** One line of standard input: typed without echo on a terminal, else read from the pipe. */
async function readPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    let text = '';
    for await (const chunk of input) text += chunk;
    return text.split(/\r?\n/, 1)[0] ?? '';
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.setEncoding('utf8');
  let typed = '';
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return typed;
        if (char === '\u0003') throw new Error('cancelled');
        typed = char === '\u007f' ? typed.slice(0, -1) : typed + char;
      }
    }
    return typed;
  } finally {
    input.setRawMode(false);
    input.pause();
    process.stderr.write('\n');
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, { config: { type: 'string' }, provider: { type: 'string' } }, usage);
  if (!parsed) return 2;
  const [action, username, ...extra] = parsed.positionals;
  if (!ACTIONS.includes(action as Action) || username === undefined || extra.length) return usageError(usage);
  if (!normaliseUsername(username))
    return usageError(
      usage,
      `"${username}" is not a username (1 to 128 letters, digits and . _ @ + -, starting with a letter or digit)`,
    );
  return withConfiguredStore(parsed.values.config, async (config, store) => {
    const provider = passwordProviderNamed(
      config.providers.flatMap((p) => (p.type === 'password' ? [p] : [])),
      parsed.values.provider,
    );
    if (typeof provider === 'string') return usageError(usage, `--provider: ${provider}`);
    const accounts = new LocalAccounts(store);
    // Read before the change: a deleted user's account is gone after it.
    const existing = await store.getPasswordCredential(provider.id, normaliseUsername(username)!);
    const done = async (ok: boolean, message: string, audit?: { kind: AuditKind; accountId?: string }) => {
      if (ok && audit)
        await auditCommand(store, {
          kind: audit.kind,
          outcome: 'success',
          accountId: audit.accountId ?? existing?.accountId,
          detail: { provider: provider.id, username: normaliseUsername(username) },
        });
      (ok ? process.stdout : process.stderr).write(`${message}\n`);
      return ok ? 0 : 1;
    };
    switch (action as Action) {
      case 'add': {
        const registered = await accounts.register(
          provider.id,
          username,
          await readPassword(`Password for ${username}: `),
          provider.minLength,
        );
        return registered.ok
          ? done(true, `added ${normaliseUsername(username)} at ${provider.id} (account ${registered.accountId})`, {
              kind: 'user-created',
              accountId: registered.accountId,
            })
          : done(false, registered.problem);
      }
      case 'set-password': {
        const problem = await accounts.setPassword(
          provider.id,
          username,
          await readPassword(`New password for ${username}: `),
          provider.minLength,
        );
        return problem
          ? done(false, problem)
          : done(true, `password of ${normaliseUsername(username)} set`, { kind: 'password-changed' });
      }
      case 'disable':
      case 'enable': {
        const found = await accounts.setDisabled(provider.id, username, action === 'disable');
        return found
          ? done(
              true,
              `${normaliseUsername(username)} ${action}d${action === 'disable' ? ' (the whole account, with every identity: signed out everywhere, its OpenID grants and tokens revoked)' : ''}`,
              { kind: action === 'disable' ? 'account-disabled' : 'account-enabled' },
            )
          : done(false, `no user "${username}" at ${provider.id}`);
      }
      case 'delete': {
        const found = await accounts.delete(provider.id, username);
        return found
          ? done(true, `deleted the account of ${normaliseUsername(username)}: every identity, token and session`, {
              kind: 'account-deleted',
            })
          : done(false, `no user "${username}" at ${provider.id}`);
      }
    }
  });
}
