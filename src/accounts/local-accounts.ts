// Local accounts (`type: password` providers): registration, sign-in and administration, the same
// code for the sign-in pages and for `signonce users`. A wrong password and an unknown user get
// the same answer after the same work; guessing is throttled (throttle.ts). Whether the account
// is disabled is the account's business (accounts.ts), told only to who knows the password.
import { toClaims } from '../providers/claims.ts';
import type { SignInResult } from '../providers/index.ts';
import { UsernameTakenError, type PasswordCredential, type Store } from '../store/index.ts';
import { profileOf, setAccountDisabled, signOutEverywhere } from './accounts.ts';
import { hashPassword, normaliseUsername, passwordProblem, verifyPassword } from './passwords.ts';
import { SignInThrottle } from './throttle.ts';

export type LocalSignIn =
  | { readonly ok: true; readonly accountId: string; readonly result: SignInResult }
  /** `accountId`: the account of the username, when there is one (for the audit log; never told the client). */
  | { readonly ok: false; readonly reason: 'invalid'; readonly accountId?: string | undefined }
  | { readonly ok: false; readonly reason: 'throttled'; readonly retryAfterMs: number };

export type Registration =
  | { readonly ok: true; readonly accountId: string; readonly result: SignInResult }
  | { readonly ok: false; readonly problem: string };

const USERNAME_HINT = 'a username is 1 to 128 letters, digits and . _ @ + - (starting with a letter or digit)';

/** What a local sign-in proves, as any provider's sign-in does. */
function resultOf(username: string): SignInResult {
  return {
    subject: username,
    name: username,
    claims: toClaims({ sub: username, name: username, preferred_username: username }),
    tokens: {},
  };
}

export class LocalAccounts {
  readonly #store: Store;
  readonly #throttle: SignInThrottle;
  readonly #now: () => number;

  constructor(store: Store, now: () => number = () => Date.now()) {
    this.#store = store;
    this.#throttle = new SignInThrottle(store, { now });
    this.#now = now;
  }

  /** A new account signing in with `username` and `password` at `provider`. */
  async register(provider: string, usernameInput: string, password: string, minLength: number): Promise<Registration> {
    const username = normaliseUsername(usernameInput);
    if (!username) return { ok: false, problem: USERNAME_HINT };
    const problem = passwordProblem(password, username, minLength);
    if (problem) return { ok: false, problem };
    try {
      const credential = await this.#store.createPasswordAccount(provider, username, await hashPassword(password));
      const result = resultOf(username);
      // Described from the start (as a sign-in would): apps matched to it by other means see this user.
      await this.#store.updateIdentity(provider, username, {
        profile: profileOf({ provider, ...result }),
        emailKey: null,
      });
      return { ok: true, accountId: credential.accountId, result };
    } catch (error) {
      if (error instanceof UsernameTakenError) return { ok: false, problem: 'this username is taken: choose another' };
      throw error;
    }
  }

  /** Checks a password typed at `provider`'s form from `address`. */
  async signIn(provider: string, usernameInput: string, password: string, address: string): Promise<LocalSignIn> {
    // Input that can be no username is throttled and checked like any other: no shortcut to tell it apart.
    const username = normaliseUsername(usernameInput) ?? usernameInput.toLowerCase().slice(0, 128);
    let credential: PasswordCredential | undefined;
    const outcome = await this.#throttle.attempt(provider, username, address, async () => {
      credential = await this.#store.getPasswordCredential(provider, username);
      const matches = await verifyPassword(credential?.passwordHash, password.slice(0, 1024));
      return matches && credential !== undefined;
    });
    if ('retryAfterMs' in outcome) return { ok: false, reason: 'throttled', retryAfterMs: outcome.retryAfterMs };
    if (!outcome.ok) return { ok: false, reason: 'invalid', accountId: credential?.accountId };
    return { ok: true, accountId: credential!.accountId, result: resultOf(username) };
  }

  /** What a sign-in as `accountId` at `provider` proves (its passkey was used): undefined when it has no username there. */
  async signedInAs(provider: string, accountId: string): Promise<SignInResult | undefined> {
    const identity = (await this.#store.listIdentities(accountId)).find((i) => i.provider === provider);
    return identity && resultOf(identity.subject);
  }

  /**
   * The user's own change of their password (the account page): the current one checked as a
   * sign-in is (throttled), the new one held to the same rules as at registration. Once changed,
   * every session of the account but `keepSession` ends and its OpenID tokens are revoked: who
   * changes a password may suspect someone else knows it.
   */
  async changePassword(
    provider: string,
    username: string,
    change: { current: string; password: string; minLength: number; address: string; keepSession: string },
  ): Promise<{ ok: true; accountId: string } | { ok: false; problem: string; retryAfterMs?: number }> {
    const checked = await this.signIn(provider, username, change.current, change.address);
    if (!checked.ok)
      return checked.reason === 'throttled'
        ? { ok: false, problem: 'too many failed attempts: try again later', retryAfterMs: checked.retryAfterMs }
        : { ok: false, problem: 'the current password is not right' };
    const problem = passwordProblem(change.password, username, change.minLength);
    if (problem) return { ok: false, problem };
    await this.#store.updatePasswordCredential(provider, username, {
      passwordHash: await hashPassword(change.password),
    });
    for (const session of await this.#store.listAccountSessions(checked.accountId))
      if (session.ref !== change.keepSession) await this.#store.revokeSessionByRef(session.ref);
    await this.#store.deleteOidcArtifactsOfAccount(checked.accountId);
    return { ok: true, accountId: checked.accountId };
  }

  /** Sets a new password (`signonce users set-password`); the problem with it, or undefined when set. */
  async setPassword(
    provider: string,
    usernameInput: string,
    password: string,
    minLength: number,
  ): Promise<string | undefined> {
    const username = normaliseUsername(usernameInput);
    const credential = username && (await this.#store.getPasswordCredential(provider, username));
    if (!credential) return `no user "${usernameInput}" at ${provider}`;
    const problem = passwordProblem(password, credential.username, minLength);
    if (problem) return problem;
    await this.#store.updatePasswordCredential(provider, credential.username, {
      passwordHash: await hashPassword(password),
    });
    // A reset is how an intruder who knew the old password is locked out: their sessions and
    // OpenID tokens end too.
    await signOutEverywhere(this.#store, credential.accountId);
    return undefined;
  }

  /**
   * Disables (or enables again) a user's account (accounts.ts setAccountDisabled): no sign-in of
   * any kind, with any of its identities, signed out everywhere at once. False when there is no such user.
   */
  async setDisabled(provider: string, usernameInput: string, disabled: boolean): Promise<boolean> {
    const username = normaliseUsername(usernameInput);
    const credential = username && (await this.#store.getPasswordCredential(provider, username));
    return credential ? setAccountDisabled(this.#store, credential.accountId, disabled, this.#now()) : false;
  }

  /** Deletes the user's whole account (every identity, token and session). False when there is no such user. */
  async delete(provider: string, usernameInput: string): Promise<boolean> {
    const username = normaliseUsername(usernameInput);
    const credential = username && (await this.#store.getPasswordCredential(provider, username));
    return credential ? this.#store.deleteAccount(credential.accountId) : false;
  }
}
