// What a sign-in does once a provider (or SignOnce's own form) proved who signed in, apart from
// HTTP (src/gateway/endpoints/sign-in.ts has the steps, cookies and pages): the account, the
// tokens kept, the session; or, for a link, the identity joined to a session's account.
import type { MembershipReader } from '../access/memberships.ts';
import type { Accounts } from '../accounts/accounts.ts';
import { rememberReceived, singleUseTokens, type Provider, type SignInResult } from '../providers/index.ts';
import type { SingleUseToken } from '../providers/single-use.ts';
import {
  IdentityConflictError,
  type ProviderTokens,
  type Session,
  type SessionDevice,
  type Store,
} from '../store/index.ts';
import type { SignedInIdentity } from './principal.ts';

const identityOf = (provider: Provider, result: SignInResult): SignedInIdentity => ({
  provider: provider.id,
  subject: result.subject,
  name: result.name,
  claims: result.claims,
});

/** How a link ended: the session whose account the identity joined, or why it did not. */
export type LinkOutcome =
  | { readonly linked: Session }
  | { readonly refused: 'session ended' }
  | { readonly refused: 'linked to another account'; readonly session: Session };

export class SignInCompletion {
  readonly #store: Store;
  readonly #accounts: Accounts;
  readonly #sessionLifetimeMs: number;
  readonly #log: { info(details: object, message: string): void };
  readonly #memberships: Pick<MembershipReader, 'recordSignIn'> | undefined;

  /** `memberships`: records what the provider says of the account's groups at each sign-in and link. */
  constructor(deps: {
    store: Store;
    accounts: Accounts;
    sessionLifetimeMs: number;
    log: { info(details: object, message: string): void };
    memberships?: Pick<MembershipReader, 'recordSignIn'>;
  }) {
    this.#store = deps.store;
    this.#accounts = deps.accounts;
    this.#sessionLifetimeMs = deps.sessionLifetimeMs;
    this.#log = deps.log;
    this.#memberships = deps.memberships;
  }

  /** The account (made on first sign-in), the tokens kept, a session for `appId` on `device`. */
  async establishSession(
    provider: Provider,
    result: SignInResult,
    appId: string,
    device: SessionDevice,
  ): Promise<{ secret: string; session: Session }> {
    const user = identityOf(provider, result);
    const { accountId, linkedByEmail } = await this.#accounts.signIn(user);
    if (linkedByEmail)
      this.#log.info(
        { provider: provider.id, account: accountId },
        'a new identity joined an account by its verified e-mail (accounts.linkByVerifiedEmail)',
      );
    await this.#keepTokens(accountId, provider, result.tokens);
    return this.#store.createSession({
      accountId,
      lifetimeMs: this.#sessionLifetimeMs,
      data: { user, app: appId },
      device,
    });
  }

  /**
   * The identity joins the account of the session `sessionRef` (still live), with its tokens; one
   * that belongs to another account is refused, never merged.
   */
  async link(sessionRef: string, provider: Provider, result: SignInResult): Promise<LinkOutcome> {
    const session = await this.#store.getSessionByRef(sessionRef);
    if (!session) return { refused: 'session ended' };
    try {
      await this.#accounts.link(session.accountId, identityOf(provider, result));
    } catch (error) {
      if (!(error instanceof IdentityConflictError)) throw error;
      return { refused: 'linked to another account', session };
    }
    await this.#keepTokens(session.accountId, provider, result.tokens);
    return { linked: session };
  }

  /**
   * Of the tokens a client-directed sign-in presents, the first that may sign in only once
   * (src/providers/single-use.ts) and was used before or received by SignOnce itself; each one
   * before it is remembered as used now (RFC 9700 section 4.6; CWE-294).
   */
  async usedBefore(tokens: ProviderTokens): Promise<SingleUseToken | undefined> {
    for (const token of singleUseTokens(tokens, Date.now())) {
      if (!(await this.#store.rememberOnce(token.kind, token.value, token.until))) return token;
    }
    return undefined;
  }

  /**
   * The tokens of a sign-in or link: remembered as received (none of them may then sign in through
   * POST /.auth/login), merged into what the account holds of this provider (a newer token
   * replaces its own kind; nothing the sign-in lacks is removed); then the memberships they tell,
   * so the first request after the sign-in finds them fresh.
   */
  async #keepTokens(accountId: string, provider: Provider, tokens: ProviderTokens): Promise<void> {
    if (!Object.keys(tokens).length) return;
    await rememberReceived(this.#store, tokens, Date.now());
    await this.#store.mergeTokens({ accountId, provider: provider.id, resource: '' }, tokens);
    await this.#memberships?.recordSignIn(accountId, provider.id, tokens);
  }
}
