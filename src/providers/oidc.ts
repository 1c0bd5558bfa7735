// OpenID Connect through openid-client: discovery, authorization code with PKCE (S256), state and
// nonce, ID token validation (signature, iss, aud, exp with 30 s tolerance, nonce) — OpenID
// Connect Core 1.0 section 3.1.3.7; RFC 9700 section 2.1.1 on PKCE.
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { profileClaims, staleAuthentication } from './authentication-event.ts';
import { principalName, toClaims } from './claims.ts';
import { oidcGroups } from './groups.ts';
import { idTokenStaleness } from './single-use.ts';
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
  type ClientTokens,
  type PendingSignIn,
  type Provider,
  type SignInResult,
  type SignInStart,
  type ProviderIdentity,
  type TokenTarget,
} from './types.ts';

export interface OidcSettings extends ProviderIdentity {
  readonly issuer: string;
  readonly clientId: string;
  /** A fixed secret, or one made afresh for each token request (Apple's JWT). */
  readonly clientSecret?: string | (() => Promise<string>) | undefined;
  readonly scopes: readonly string[];
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
  /** RFC 8707 resource indicators every sign-in names (the resources apps get tokens for). */
  readonly resources?: readonly string[] | undefined;
  /** Claims the callback URL carries beside the code (Apple's `user`); the ID token's win. */
  readonly callbackClaims?: (callback: URL) => Record<string, unknown>;
  /** Microsoft Graph, to read the groups of an Entra ID group overage. */
  readonly graphUrl?: string | undefined;
  /** `acr` values meaning a second factor (`providers[].mfaAcrValues`). */
  readonly mfaAcrValues?: readonly string[] | undefined;
}

/** client_secret_post (RFC 6749 section 2.3.1) with the settings' secret, or none for public clients. */
function clientAuthentication(secret: OidcSettings['clientSecret']): client.ClientAuth {
  if (secret === undefined) return client.None();
  if (typeof secret === 'string') return client.ClientSecretPost(secret);
  // openid-client awaits client authentication, so the secret can be made per request.
  return async (_server, metadata, body) => {
    body.set('client_id', metadata.client_id);
    body.set('client_secret', await secret());
  };
}

const CLOCK_TOLERANCE_SECONDS = 30;

export class OidcProvider implements Provider {
  readonly id: string;
  readonly type: string;
  readonly displayName: string;
  readonly signing: { readonly issuer: string; readonly keys: JWTVerifyGetKey };
  readonly mfaAcrValues: readonly string[] | undefined;
  readonly #settings: OidcSettings;
  #configuration: Promise<client.Configuration> | undefined;
  #keys: JWTVerifyGetKey | undefined;

  constructor(settings: OidcSettings) {
    this.id = settings.id;
    this.type = settings.type;
    this.displayName = settings.displayName;
    this.#settings = settings;
    this.mfaAcrValues = settings.mfaAcrValues;
    this.signing = {
      issuer: settings.issuer,
      keys: async (header, token) => (await this.#remoteKeys())(header, token),
    };
  }

  /** The keys at the discovered jwks_uri (jose refetches them for an unknown `kid`, at most every 30 s). */
  async #remoteKeys(): Promise<JWTVerifyGetKey> {
    const metadata = (await this.#discover()).serverMetadata();
    if (!metadata.jwks_uri) throw new ProviderError('invalid-response', 'the provider publishes no jwks_uri');
    this.#keys ??= createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: TIMEOUT_SECONDS * 1000 });
    return this.#keys;
  }

  /** Discovery, once; a failure is retried on the next sign-in rather than remembered. */
  #discover(): Promise<client.Configuration> {
    this.#configuration ??= (async () => {
      const issuer = new URL(this.#settings.issuer);
      const config = await client.discovery(
        issuer,
        this.#settings.clientId,
        { [client.clockTolerance]: CLOCK_TOLERANCE_SECONDS },
        clientAuthentication(this.#settings.clientSecret),
        // Plain http only for loopback issuers (local development and tests).
        { timeout: TIMEOUT_SECONDS, ...(isLoopbackHttp(issuer) ? { execute: [client.allowInsecureRequests] } : {}) },
      );
      config.timeout = TIMEOUT_SECONDS;
      return config;
    })().catch((error: unknown) => {
      this.#configuration = undefined;
      throw classify(error);
    });
    return this.#configuration;
  }

  /**
   * A sign-in that must be new sends `max_age=0` and remembers when it started (the ID token's
   * `auth_time` is checked against it); a step-up asks for `mfaAcrValues` as `acr_values` (Core
   * 1.0 section 3.1.2.1: voluntary, so the answer's `acr`/`amr` is what counts).
   */
  async begin({ callbackUrl, state, prompt, reauthenticate, mfa }: SignInStart) {
    const anew = reauthenticate === true;
    const acrValues = mfa ? this.mfaAcrValues : undefined;
    const started = await authorizationRequest(await this.#discover(), {
      callbackUrl,
      state,
      prompt,
      scopes: this.#settings.scopes,
      extra: {
        ...this.#settings.authorizationParams,
        ...(anew ? { max_age: '0' } : {}),
        ...(acrValues?.length ? { acr_values: acrValues.join(' ') } : {}),
      },
      resources: this.#settings.resources,
      nonce: client.randomNonce(),
    });
    return anew ? { ...started, pending: { ...started.pending, authenticatedAfter: String(Date.now()) } } : started;
  }

  /**
   * An ID token the app got from the provider, checked as the code flow checks one (OpenID Connect
   * Core 1.0 section 3.1.3.7): the provider's signature, `iss`, `aud` naming this client (and `azp`
   * when there are several audiences), `exp`, and an `iat` within the last five minutes (the
   * gateway then accepts each ID token once). An access token sent with it is stored, and its
   * userinfo must describe the same subject.
   */
  async signInWithTokens(tokens: ClientTokens): Promise<SignInResult> {
    if (!tokens.id_token)
      throw new ProviderError(
        'denied',
        'an id_token is required (an access token alone does not prove which app it was issued to)',
      );
    const config = await this.#discover();
    const metadata = config.serverMetadata();
    const keys = await this.#remoteKeys();
    let idClaims;
    try {
      ({ payload: idClaims } = await jwtVerify(tokens.id_token, keys, {
        issuer: metadata.issuer,
        audience: this.#settings.clientId,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        algorithms: metadata.id_token_signing_alg_values_supported ?? ['RS256'],
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'JWKSTimeout' || !(error as { code?: string }).code?.startsWith('ERR_J')) throw classify(error);
      throw new ProviderError('denied', `the id_token is not accepted: ${(error as Error).message}`, { cause: error });
    }
    if (Array.isArray(idClaims.aud) && idClaims.aud.length > 1 && idClaims.azp !== this.#settings.clientId) {
      throw new ProviderError('denied', 'the id_token has several audiences and another authorized party');
    }
    // Made for this sign-in now, not one issued long ago to someone else (src/providers/single-use.ts).
    const stale = idTokenStaleness(idClaims.iat, Date.now());
    if (stale) throw new ProviderError('denied', stale);
    try {
      const userinfo =
        tokens.access_token && metadata.userinfo_endpoint
          ? await client.fetchUserInfo(config, tokens.access_token, idClaims.sub!)
          : {};
      const claims = { ...profileClaims(userinfo), ...idClaims };
      return {
        subject: idClaims.sub!,
        name: principalName(claims, idClaims.sub!),
        claims: toClaims(claims),
        tokens: { idToken: tokens.id_token, ...(tokens.access_token ? { accessToken: tokens.access_token } : {}) },
      };
    } catch (error) {
      throw classify(error);
    }
  }

  async refresh(current: ProviderTokens, target?: TokenTarget): Promise<ProviderTokens> {
    return refreshGrant(await this.#discover(), current, target);
  }

  readGroups(tokens: ProviderTokens): Promise<GroupsAndRoles> {
    return oidcGroups(tokens, this.#settings.graphUrl);
  }

  async endSessionUrl({
    idToken,
    postLogoutRedirectUri,
    state,
  }: {
    idToken?: string | undefined;
    postLogoutRedirectUri: string;
    state: string;
  }): Promise<string | undefined> {
    const config = await this.#discover();
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    return client.buildEndSessionUrl(config, {
      client_id: this.#settings.clientId,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).href;
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
    const config = await this.#discover();
    try {
      const tokens = await client.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: pending.verifier!,
        expectedState: state,
        expectedNonce: pending.nonce!,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims()!;
      const stale =
        pending.authenticatedAfter && staleAuthentication(idClaims.auth_time, Number(pending.authenticatedAfter));
      if (stale) throw new ProviderError('denied', stale);
      // With the code flow, profile and e-mail claims may come only from userinfo (OpenID
      // Connect Core 1.0 section 5.4); the ID token's own claims win where both speak.
      const userinfo = config.serverMetadata().userinfo_endpoint
        ? await client.fetchUserInfo(config, tokens.access_token, idClaims.sub)
        : {};
      // Only the ID token says how and when the user authenticated (authentication-event.ts).
      const claims = {
        ...profileClaims({ ...this.#settings.callbackClaims?.(currentUrl), ...userinfo }),
        ...idClaims,
      };
      return {
        subject: claims.sub,
        name: principalName(claims, claims.sub),
        claims: toClaims(claims),
        tokens: providerTokens(tokens),
      };
    } catch (error) {
      throw classify(error);
    }
  }
}
