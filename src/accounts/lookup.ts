// Which account an operator names on the command line (`signonce groups`, `signonce access
// check`): an account id, a local username (at any password provider) or a verified e-mail.
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import { emailKeyOf } from './accounts.ts';
import { normaliseUsername } from './passwords.ts';

export const USER_FORMS = 'an account id, a username of a password provider, or a verified e-mail';

/**
 * The one account `user` names, or why there is none: nothing matches, or several accounts do
 * (a username at two password providers, an e-mail of two accounts: never guess).
 */
export async function findAccount(
  store: Store,
  config: Pick<Config, 'providers'>,
  user: string,
): Promise<{ readonly accountId: string } | { readonly problem: string }> {
  const found = new Set<string>();
  if (await store.getAccount(user)) found.add(user);
  const username = normaliseUsername(user);
  if (username)
    for (const provider of config.providers.filter((p) => p.type === 'password')) {
      const credential = await store.getPasswordCredential(provider.id, username);
      if (credential) found.add(credential.accountId);
    }
  if (user.includes('@'))
    for (const identity of await store.findIdentitiesByEmailKey(await emailKeyOf(store, user)))
      found.add(identity.accountId);
  if (found.size === 1) return { accountId: [...found][0]! };
  return {
    problem: found.size
      ? `"${user}" names ${found.size} accounts (${[...found].join(', ')}): name one by its account id`
      : `no user "${user}" (${USER_FORMS})`,
  };
}
