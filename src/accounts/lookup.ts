// Which accounts a person names: an operator on the command line (`signonce groups`, `signonce
// access check`: exactly one), an administrator searching the admin console (every match, with
// why). One search for both: an account id, a local username (at any password provider), a
// verified e-mail, or an identity's subject at any configured provider — each exact, never a
// prefix or a pattern, so a search reveals no more than naming the account would.
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import { emailKeyOf } from './accounts.ts';
import { normaliseUsername } from './passwords.ts';

export const USER_FORMS =
  "an account id, a username of a password provider, a verified e-mail, or an identity's subject at a provider";

/** Why `text` names an account: `account id`, `username at local`, `e-mail`, `subject at google`. */
export type MatchReason = 'account id' | `username at ${string}` | 'e-mail' | `subject at ${string}`;

export interface AccountMatch {
  readonly accountId: string;
  /** Every way the text names this account, in the order above (account id first). */
  readonly reasons: readonly MatchReason[];
}

/**
 * Every account `text` names, each once with why, in the order first found: its account id; a
 * username (as typed at sign-in: normalised) at any password provider; a verified e-mail (the
 * keyed hash a sign-in kept, so only an address a provider asserted with email_verified, compared
 * as linking compares it); the subject of an identity at any configured provider.
 */
export async function matchingAccounts(
  store: Store,
  config: Pick<Config, 'providers'>,
  text: string,
): Promise<AccountMatch[]> {
  const found = new Map<string, MatchReason[]>();
  const add = (accountId: string, reason: MatchReason) => {
    const reasons = found.get(accountId) ?? [];
    if (!reasons.includes(reason)) reasons.push(reason);
    found.set(accountId, reasons);
  };
  if (text === '') return [];
  if (await store.getAccount(text)) add(text, 'account id');
  const username = normaliseUsername(text);
  if (username)
    for (const provider of config.providers.filter((p) => p.type === 'password')) {
      const credential = await store.getPasswordCredential(provider.id, username);
      if (credential) add(credential.accountId, `username at ${provider.id}`);
    }
  if (text.includes('@'))
    for (const identity of await store.findIdentitiesByEmailKey(await emailKeyOf(store, text)))
      add(identity.accountId, 'e-mail');
  for (const provider of config.providers) {
    const identity = await store.findIdentity(provider.id, text);
    if (identity) add(identity.accountId, `subject at ${provider.id}`);
  }
  return [...found].map(([accountId, reasons]) => ({ accountId, reasons }));
}

/**
 * The one account `user` names (matchingAccounts), or why there is none: nothing matches, or
 * several accounts do (a username at two password providers, an e-mail of two accounts: never guess).
 * An account id always names its account, even when it is also another's subject or username:
 * it is the way out of every ambiguity, so no one can block it by taking an account id as theirs.
 */
export async function findAccount(
  store: Store,
  config: Pick<Config, 'providers'>,
  user: string,
): Promise<{ readonly accountId: string } | { readonly problem: string }> {
  const found = await matchingAccounts(store, config, user);
  const byId = found.find((match) => match.reasons.includes('account id'));
  if (byId || found.length === 1) return { accountId: (byId ?? found[0]!).accountId };
  return {
    problem: found.length
      ? `"${user}" names ${found.length} accounts (${found.map((match) => match.accountId).join(', ')}): name one by its account id`
      : `no user "${user}" (${USER_FORMS})`,
  };
}
