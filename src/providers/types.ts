// The one seam between SignOnce and identity providers: start a sign-in, finish it from the
// provider's callback. Everything provider-specific stays behind it.
import type { JWTVerifyGetKey } from 'jose';
import { CodedError } from '../errors/index.ts';
import type { GroupsAndRoles, ProviderTokens } from '../store/index.ts';

/** A token for another resource than the sign-in's own: an RFC 8707 indicator, scopes, or both. */
export interface TokenTarget {
  readonly resource?: string;
  readonly scopes: readonly string[];
}

/** An Easy Auth claim: `{ typ, val }`. */
export interface Claim {
  readonly typ: string;
  readonly val: string;
}

/** Who signed in, as the provider asserted it, with the tokens it issued. */
export interface SignInResult {
  /** The provider's stable identifier of the user (OIDC `sub`). */
  readonly subject: string;
  /** The name apps see in X-MS-CLIENT-PRINCIPAL-NAME. */
  readonly name: string;
  readonly claims: readonly Claim[];
  readonly tokens: ProviderTokens;
}

/** What a started sign-in must keep until its callback (sealed in the login state). */
export type PendingSignIn = Readonly<Record<string, string>>;

/** What names a provider, in config and on the sign-in page. */
export interface ProviderIdentity {
  readonly id: string;
  readonly type: string;
  /** For the sign-in page. */
  readonly displayName: string;
}

/** The provider tokens a native app sends for client-directed sign-in (Easy Auth's body names). */
export interface ClientTokens {
  readonly id_token?: string;
  readonly access_token?: string;
  readonly access_token_secret?: string;
}

/** What SignOnce asks of a sign-in it starts at a provider. */
export interface SignInStart {
  readonly callbackUrl: string;
  readonly state: string;
  /** `login`: the provider is asked to authenticate the user anew, not from a session of its own. */
  readonly prompt?: string | undefined;
  /**
   * The sign-in must be shown to be new (a step-up for a recent sign-in, the admin console's fresh
   * sign-in): OpenID Connect providers are also sent `max_age=0`, and the ID token's `auth_time`
   * must be after the sign-in started (Core 1.0 section 3.1.2.1). Others cannot show it.
   */
  readonly reauthenticate?: boolean | undefined;
  /** A step-up asks for a second factor: OpenID Connect providers are sent `acr_values` (their `mfaAcrValues`). */
  readonly mfa?: boolean | undefined;
}

export interface Provider extends ProviderIdentity {
  /**
   * The issuer of the JWTs the provider signs and its keys (discovered; fetched on first use): an
   * app's callers' access tokens are verified with them (apps[].acceptProviderTokens). OpenID
   * Connect providers only; the keys throw ProviderError when they cannot be had.
   */
  readonly signing?: { readonly issuer: string; readonly keys: JWTVerifyGetKey };
  /**
   * The `acr` values that mean the user proved a second factor at this provider
   * (`providers[].mfaAcrValues`): asked for on a step-up, and a sign-in answering one of them is
   * multi-factor (src/access/step-up.ts). OpenID Connect providers only.
   */
  readonly mfaAcrValues?: readonly string[] | undefined;
  /** Where to send the browser; `state` is SignOnce's single-use login state, echoed back. */
  begin(request: SignInStart): Promise<{ url: string; pending: PendingSignIn }>;
  /**
   * Finishes the sign-in from the callback request's URL (a form_post callback arrives as a GET
   * too). Absent where the sign-in happens on SignOnce's own pages (`password`).
   */
  complete?(request: {
    callbackUrl: string;
    currentUrl: URL;
    state: string;
    pending: PendingSignIn;
  }): Promise<SignInResult>;
  /**
   * Client-directed sign-in: who the tokens a native app got from the provider prove, checked
   * with the provider. Absent where tokens cannot prove they were issued to this client (a bare
   * OAuth 2 access token: a token issued to any other app would pass). Throws ProviderError
   * ('denied' for tokens refused).
   */
  signInWithTokens?(tokens: ClientTokens): Promise<SignInResult>;
  /**
   * New tokens from the stored refresh token, for `target` when given (another resource: the
   * answer's access token is for it); throws ProviderError ('denied' when the provider refuses
   * the grant: revoked, expired or reused). Absent where the protocol has no refresh.
   */
  refresh?(current: ProviderTokens, target?: TokenTarget): Promise<ProviderTokens>;
  /**
   * The groups and roles the provider says the user of `tokens` (the sign-in's, as stored; the
   * caller refreshes them first when they expire soon) has now: OpenID Connect `groups`/`roles`
   * claims, with Entra ID group overage read from Microsoft Graph; GitHub-style organisations and
   * teams. Throws ProviderError when they cannot be read. Absent where the provider tells none.
   */
  readGroups?(tokens: ProviderTokens): Promise<GroupsAndRoles>;
  /**
   * Where to send the browser to sign out at the provider too (OpenID Connect RP-Initiated
   * Logout 1.0), or undefined when the provider offers no such endpoint.
   */
  endSessionUrl?(request: {
    idToken?: string | undefined;
    postLogoutRedirectUri: string;
    state: string;
  }): Promise<string | undefined>;
}

export type ProviderErrorKind =
  /** The user or the provider declined (`access_denied` and other authorization errors). */
  | 'denied'
  /** The provider could not be reached or did not answer in time. */
  | 'unreachable'
  /** The provider answered something that fails validation (bad token, wrong issuer, …). */
  | 'invalid-response';

export class ProviderError extends CodedError {
  static readonly code = 'ERR_PROVIDER';
  readonly code = ProviderError.code;
  readonly kind: ProviderErrorKind;
  constructor(kind: ProviderErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }

  /** `error` as a ProviderError: itself, or an answer SignOnce could not accept. */
  static from(error: unknown): ProviderError {
    return error instanceof ProviderError
      ? error
      : new ProviderError('invalid-response', (error as Error).message, { cause: error });
  }
}
