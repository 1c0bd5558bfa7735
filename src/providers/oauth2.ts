// Plain OAuth 2.0 providers (GitHub, Facebook, …): authorization code (RFC 6749 section 4.1) with
// PKCE, then the user's profile from a userinfo endpoint, its fields named by `claims` in config.
import * as client from 'openid-client';
import { profileClaims } from './authentication-event.ts';
import { principalName, toClaims } from './claims.ts';
import { githubGroups } from './groups.ts';
import {
  TIMEOUT_SECONDS,
  authorizationRequest,
  classify,
  isLoopbackHttp,
  providerTokens,
  refreshGrant,
} from './oauth-common.ts';
import type { GroupsAndRoles, ProviderTokens } from '../store/index.ts';
import {
  ProviderError,
  type PendingSignIn,
  type Provider,
  type SignInResult,
  type ProviderIdentity,
  type TokenTarget,
} from './types.ts';

export interface OAuth2Settings extends ProviderIdentity {
  readonly authorizationUrl: string;
  readonly tokenUrl: string;
  readonly userinfoUrl?: string | undefined;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly scopes: readonly string[];
  readonly claims?:
    | { readonly id?: string | undefined; readonly name?: string | undefined; readonly email?: string | undefined }
    | undefined;
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
  /** RFC 8707 resource indicators every sign-in names (the resources apps get tokens for). */
  readonly resources?: readonly string[] | undefined;
  /** GitHub-style lists of the user's organisations and teams, read as groups. */
  readonly orgsUrl?: string | undefined;
  readonly teamsUrl?: string | undefined;
}

export class OAuth2Provider implements Provider {
  readonly id: string;
  readonly type: string;
  readonly displayName: string;
  readonly #settings: OAuth2Settings;
  readonly #config: client.Configuration;
  /** Present only with orgsUrl or teamsUrl: a plain OAuth 2 provider tells no groups. */
  readonly readGroups?: (tokens: ProviderTokens) => Promise<GroupsAndRoles>;

  constructor(settings: OAuth2Settings) {
    this.id = settings.id;
    this.type = settings.type;
    this.displayName = settings.displayName;
    this.#settings = settings;
    if (settings.orgsUrl || settings.teamsUrl) this.readGroups = (tokens) => githubGroups(tokens, settings);
    const authorization = new URL(settings.authorizationUrl);
    // No discovery in plain OAuth 2: the endpoints are configured. The issuer is the
    // authorization server's origin (checked against an RFC 9207 `iss` when the server sends one).
    this.#config = new client.Configuration(
      {
        issuer: authorization.origin,
        authorization_endpoint: settings.authorizationUrl,
        token_endpoint: settings.tokenUrl,
      },
      settings.clientId,
      { client_secret: settings.clientSecret },
      settings.clientSecret ? client.ClientSecretPost(settings.clientSecret) : client.None(),
    );
    this.#config.timeout = TIMEOUT_SECONDS;
    if (isLoopbackHttp(authorization)) client.allowInsecureRequests(this.#config);
  }

  begin({ callbackUrl, state, prompt }: { callbackUrl: string; state: string; prompt?: string }) {
    return authorizationRequest(this.#config, {
      callbackUrl,
      state,
      prompt,
      scopes: this.#settings.scopes,
      extra: this.#settings.authorizationParams,
      resources: this.#settings.resources,
    });
  }

  refresh(current: ProviderTokens, target?: TokenTarget): Promise<ProviderTokens> {
    return refreshGrant(this.#config, current, target);
  }

  async complete({
    currentUrl,
    state,
    pending,
  }: {
    currentUrl: URL;
    state: string;
    pending: PendingSignIn;
  }): Promise<SignInResult> {
    try {
      const tokens = await client.authorizationCodeGrant(this.#config, currentUrl, {
        pkceCodeVerifier: pending.verifier!,
        expectedState: state,
      });
      const profile = await this.#profile(tokens.access_token);
      const names = { id: 'id', name: 'name', email: 'email', ...this.#settings.claims };
      const subject = profile[names.id];
      if (typeof subject !== 'string' && typeof subject !== 'number') {
        throw new ProviderError(
          'invalid-response',
          `the userinfo answer has no "${names.id}" field to identify the user (set claims.id)`,
        );
      }
      // The profile's own fields, plus the standard names apps look for.
      const scalars = Object.fromEntries(
        Object.entries(profile).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v)),
      );
      const standard = { sub: String(subject), name: profile[names.name], email: profile[names.email] };
      const claims = {
        ...profileClaims(scalars),
        ...Object.fromEntries(Object.entries(standard).filter(([, v]) => v !== undefined && v !== null)),
      };
      return {
        subject: String(subject),
        name: principalName(claims, String(subject)),
        claims: toClaims(claims),
        tokens: providerTokens(tokens),
      };
    } catch (error) {
      throw classify(error);
    }
  }

  async #profile(accessToken: string): Promise<Record<string, unknown>> {
    if (!this.#settings.userinfoUrl)
      throw new ProviderError('invalid-response', 'no userinfoUrl is configured, so the user cannot be identified');
    const response = await fetch(this.#settings.userinfoUrl, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': 'SignOnce' },
      signal: AbortSignal.timeout(TIMEOUT_SECONDS * 1000),
    });
    if (!response.ok) throw new ProviderError('invalid-response', `the userinfo endpoint answered ${response.status}`);
    const body: unknown = await response.json().catch(() => undefined);
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new ProviderError('invalid-response', 'the userinfo endpoint did not answer a JSON object');
    return body as Record<string, unknown>;
  }
}
