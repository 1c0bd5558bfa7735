// Accounts and the identities that sign in to them: the one place that decides which account an
// identity belongs to (src/accounts/linking.ts holds the rules) and records what the provider
// said of it, for sign-in, linking and /.auth/me alike; and whether the account may be signed in
// to at all (disabled accounts: `assertEnabled`, which every way in goes through).
import { CodedError } from '../errors/index.ts';
import type { Config } from '../config/index.ts';
import type { Claim } from '../providers/index.ts';
import { IdentityConflictError, type Identity, type Store } from '../store/index.ts';
import { accountByEmail, emailKey, verifiedEmail } from './linking.ts';

const EMAIL_KEY_SECRET = 'email-keys';

/** An identity a provider has just proved, with what it said of it. */
export interface ProvenIdentity {
  readonly provider: string;
  readonly subject: string;
  readonly name: string;
  readonly claims: readonly Claim[];
}

/** The account is disabled (`signonce users|accounts disable`): no way in until it is enabled. */
export class AccountDisabledError extends CodedError {
  static readonly code = 'ERR_ACCOUNT_DISABLED';
  readonly code = AccountDisabledError.code;
  readonly accountId: string;
  constructor(accountId: string) {
    super('This account is disabled. Ask an administrator.');
    this.accountId = accountId;
  }
}

/**
 * Ends every way the account is signed in now: its sessions (every app sharing them, their
 * authentication tokens and refresh grace; other instances hear it through the store) and what
 * the OpenID Provider issued for it (grants, codes, access and refresh tokens, sessions). What a
 * new password (OWASP ASVS 4.0.3 3.3.3) and a disable end; RFC 9700 section 4.14.2 names a
 * password change among the events that revoke refresh tokens.
 */
export async function signOutEverywhere(store: Store, accountId: string): Promise<void> {
  await store.revokeAccountSessions(accountId);
  await store.deleteOidcArtifactsOfAccount(accountId);
}

/**
 * Disables an account (no sign-in of any kind, signed out everywhere) or enables it again; false
 * when there is no such account. The flag goes first: a sign-in racing the disable is refused,
 * and a session it made meanwhile is not live (Store.setAccountDisabled).
 */
export async function setAccountDisabled(
  store: Store,
  accountId: string,
  disabled: boolean,
  now: number = Date.now(),
): Promise<boolean> {
  if (!(await store.setAccountDisabled(accountId, disabled ? now : null))) return false;
  if (disabled) await signOutEverywhere(store, accountId);
  return true;
}

/** What is kept of an identity's last sign-in (`Identity.profile`). */
export interface IdentityProfile {
  readonly name: string;
  readonly claims: readonly Claim[];
}

export class Accounts {
  readonly #store: Store;
  readonly #linkByEmail: readonly string[];
  #secret: Promise<Buffer> | undefined;

  constructor(store: Store, config: Pick<Config, 'accounts'>) {
    this.#store = store;
    this.#linkByEmail = config.accounts.linkByVerifiedEmail;
  }

  /**
   * The account of an identity that has just signed in: the one it is linked to; else, for a
   * provider of `accounts.linkByVerifiedEmail` vouching for the e-mail, the one account other
   * such identities with that e-mail belong to; else a new one.
   */
  async signIn(identity: ProvenIdentity): Promise<{ accountId: string; linkedByEmail: boolean }> {
    const key = await this.#emailKey(identity);
    let linkedByEmail = false;
    // Only an identity of a listed provider joins an account by e-mail (the key is kept for all).
    if (
      key &&
      this.#linkByEmail.includes(identity.provider) &&
      !(await this.#store.findIdentity(identity.provider, identity.subject))
    ) {
      const match = accountByEmail(await this.#store.findIdentitiesByEmailKey(key), this.#linkByEmail);
      if (match) linkedByEmail = await this.#linkUnlessTaken(match, identity);
    }
    const { account } = await this.#store.resolveIdentity(identity.provider, identity.subject);
    if (account.disabledAt !== undefined) throw new AccountDisabledError(account.id);
    await this.#store.updateIdentity(identity.provider, identity.subject, {
      profile: profileOf(identity),
      emailKey: key,
    });
    return { accountId: account.id, linkedByEmail };
  }

  /** Links an identity that has just signed in to `accountId`; throws IdentityConflictError when it belongs to another account. */
  async link(accountId: string, identity: ProvenIdentity): Promise<void> {
    await this.assertEnabled(accountId);
    await this.#store.linkIdentity(accountId, identity.provider, identity.subject);
    await this.#store.updateIdentity(identity.provider, identity.subject, {
      profile: profileOf(identity),
      emailKey: await this.#emailKey(identity),
    });
  }

  /** Whether the account exists and is not disabled. */
  async enabled(accountId: string): Promise<boolean> {
    const account = await this.#store.getAccount(accountId);
    return account !== undefined && account.disabledAt === undefined;
  }

  /**
   * Refuses a sign-in to an account that is disabled (or gone): throws AccountDisabledError. Every
   * way in asks here, or through signIn and link, which do.
   */
  async assertEnabled(accountId: string): Promise<void> {
    if (!(await this.enabled(accountId))) throw new AccountDisabledError(accountId);
  }

  /**
   * How the account is described to apps and clients: its first identity a provider described
   * (a linked external identity describes no one), with that profile.
   */
  async described(accountId: string): Promise<{ identity: Identity; profile: IdentityProfile } | undefined> {
    const identity = (await this.#store.listIdentities(accountId)).find(
      (i) => i.profile && !i.provider.startsWith('external:'),
    );
    return identity && { identity, profile: identity.profile as unknown as IdentityProfile };
  }

  /** The account's identities, each with the profile of its last sign-in. */
  identities(accountId: string): Promise<Identity[]> {
    return this.#store.listIdentities(accountId);
  }

  // A concurrent first sign-in of the same identity may have created its own account meanwhile.
  async #linkUnlessTaken(accountId: string, identity: ProvenIdentity): Promise<boolean> {
    try {
      await this.#store.linkIdentity(accountId, identity.provider, identity.subject);
      return true;
    } catch (error) {
      if (error instanceof IdentityConflictError) return false;
      throw error;
    }
  }

  /**
   * The key of the e-mail the identity's provider vouches for: kept for every such identity, so
   * operators find accounts by e-mail (findAccount); linking considers only those of listed
   * providers (accountByEmail).
   */
  async #emailKey(identity: ProvenIdentity): Promise<string | null> {
    const email = verifiedEmail(identity.claims);
    if (!email) return null;
    this.#secret ??= this.#store.instanceSecret(EMAIL_KEY_SECRET);
    return emailKey(await this.#secret, email);
  }
}

/** The key identities with this e-mail are recorded under (linking.ts emailKey, under the store's secret). */
export async function emailKeyOf(store: Store, email: string): Promise<string> {
  return emailKey(await store.instanceSecret(EMAIL_KEY_SECRET), email);
}

/** What is recorded of an identity's sign-in. */
export const profileOf = (identity: ProvenIdentity): Record<string, unknown> =>
  ({ name: identity.name, claims: identity.claims }) satisfies IdentityProfile;
