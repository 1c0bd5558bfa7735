// Who may reach what (README, "Access rules"): the facts an access decision reads. The rules
// (rules.ts) are pure functions of a subject and a request; the facts are gathered before
// (memberships.ts: groups and roles from every source) and cached with the signed-in cache.
import type { Claim } from '../providers/index.ts';

/** Group and role memberships of an account, from every source, as known now. */
export interface Memberships {
  /** SignOnce's own groups and those read from providers (claims, Graph, GitHub). */
  readonly groups: ReadonlySet<string>;
  /** App roles asserted by providers (`roles` claims). */
  readonly roles: ReadonlySet<string>;
  /**
   * Sources that could not be read while what was kept of them is older than `groups.maxAge`,
   * each in plain words (e.g. `aad: Microsoft Graph answered 503`). A rule that needs groups or
   * roles refuses while this is not empty (fail closed).
   */
  readonly unavailable: readonly string[];
}

/**
 * Who asks: the signed-in identity of a session (or of an authentication token) and its account,
 * or the user or application of a provider's bearer token (apps[].acceptProviderTokens).
 */
export interface AccessSubject {
  /** A session's account, or the one a provider token's user is linked to; undefined when there is none. */
  readonly accountId: string | undefined;
  /** Provider id of the identity the session signed in with. */
  readonly provider: string;
  /** That identity's claims, as apps receive them (Easy Auth's list). */
  readonly claims: readonly Claim[];
  /** The provider is trusted to assert only verified e-mails (`providers[].trustEmail`). */
  readonly emailTrusted: boolean;
  readonly memberships: Memberships;
  /**
   * The application that presented a provider's bearer token (its client id: `azp`, `appid` or
   * `client_id`), `alone` when it calls for itself (client credentials): then there is no user,
   * and no condition on users matches. Undefined for sessions and SignOnce's own tokens.
   */
  readonly application?: { readonly clientId: string; readonly alone: boolean };
}

/** What is asked for; for an OpenID client, path and method are absent. */
export interface AccessRequest {
  /** The request target (path and query), as received. */
  readonly path?: string;
  readonly method?: string;
}
