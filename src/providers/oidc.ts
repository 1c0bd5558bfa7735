// OpenID Connect through openid-client: discovery, authorization code with PKCE (S256), state and
// nonce, ID token validation (signature, iss, aud, exp with 30 s tolerance, nonce) — OpenID
// Connect Core 1.0 section 3.1.3.7; RFC 9700 section 2.1.1 on PKCE.
import * as client from 'openid-client';
import { principalName, toClaims } from './claims.ts';
import { TIMEOUT_SECONDS, authorizationRequest, classify, isLoopbackHttp, providerTokens } from './oauth-common.ts';
import type { PendingSignIn, Provider, SignInResult, ProviderIdentity } from './types.ts';

export interface OidcSettings extends ProviderIdentity {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly scopes: readonly string[];
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
}

const CLOCK_TOLERANCE_SECONDS = 30;

export class OidcProvider implements Provider {
  readonly id: string;
  readonly type: string;
  readonly displayName: string;
  readonly #settings: OidcSettings;
  #configuration: Promise<client.Configuration> | undefined;

  constructor(settings: OidcSettings) {
    this.id = settings.id;
    this.type = settings.type;
    this.displayName = settings.displayName;
    this.#settings = settings;
  }

  /** Discovery, once; a failure is retried on the next sign-in rather than remembered. */
  #discover(): Promise<client.Configuration> {
    this.#configuration ??= (async () => {
      const issuer = new URL(this.#settings.issuer);
      const config = await client.discovery(issuer, this.#settings.clientId,
        { client_secret: this.#settings.clientSecret, [client.clockTolerance]: CLOCK_TOLERANCE_SECONDS },
        this.#settings.clientSecret ? client.ClientSecretPost(this.#settings.clientSecret) : client.None(),
        // Plain http only for loopback issuers (local development and tests).
        { timeout: TIMEOUT_SECONDS, ...(isLoopbackHttp(issuer) ? { execute: [client.allowInsecureRequests] } : {}) });
      config.timeout = TIMEOUT_SECONDS;
      return config;
    })().catch((error: unknown) => {
      this.#configuration = undefined;
      throw classify(error);
    });
    return this.#configuration;
  }

  async begin({ callbackUrl, state, prompt }: { callbackUrl: string; state: string; prompt?: string }) {
    return authorizationRequest(await this.#discover(), {
      callbackUrl, state, prompt, scopes: this.#settings.scopes, extra: this.#settings.authorizationParams, nonce: client.randomNonce(),
    });
  }

  async complete({ currentUrl, state, pending }: { currentUrl: URL; state: string; pending: PendingSignIn }): Promise<SignInResult> {
    const config = await this.#discover();
    try {
      const tokens = await client.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: pending.verifier!, expectedState: state, expectedNonce: pending.nonce!, idTokenExpected: true,
      });
      const idClaims = tokens.claims()!;
      // With the code flow, profile and e-mail claims may come only from userinfo (OpenID
      // Connect Core 1.0 section 5.4); the ID token's own claims win where both speak.
      const userinfo = config.serverMetadata().userinfo_endpoint
        ? await client.fetchUserInfo(config, tokens.access_token, idClaims.sub) : {};
      const claims = { ...userinfo, ...idClaims };
      return { subject: claims.sub, name: principalName(claims, claims.sub), claims: toClaims(claims), tokens: providerTokens(tokens) };
    } catch (error) {
      throw classify(error);
    }
  }
}
