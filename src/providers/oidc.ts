// OpenID Connect through openid-client: discovery, authorization code with PKCE (S256), state and
// nonce, ID token validation (signature, iss, aud, exp with 30 s tolerance, nonce) — OpenID
// Connect Core 1.0 section 3.1.3.7; RFC 9700 section 2.1.1 on PKCE.
import * as client from 'openid-client';
import { principalName, toClaims } from './claims.ts';
import { ProviderError, type PendingSignIn, type Provider, type SignInResult } from './types.ts';

export interface OidcSettings {
  readonly id: string;
  readonly type: string;
  readonly displayName: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly scopes: readonly string[];
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined;
}

const TIMEOUT_SECONDS = 10;
const CLOCK_TOLERANCE_SECONDS = 30;

/** Sorts a provider failure into what the user is told and what is logged. */
export function classify(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof client.AuthorizationResponseError) {
    return new ProviderError('denied', `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`, { cause: error });
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  if (error instanceof TypeError || (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError' || cause?.code?.startsWith('E')) {
    return new ProviderError('unreachable', `the provider could not be reached: ${(error as Error).message}`, { cause: error });
  }
  return new ProviderError('invalid-response', `the provider's answer failed validation: ${(error as Error).message}`, { cause: error });
}

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
    const config = await this.#discover();
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      ...this.#settings.authorizationParams,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: this.#settings.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(prompt ? { prompt } : {}),
    });
    return { url: url.href, pending: { verifier, nonce } };
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
      return {
        subject: claims.sub,
        name: principalName(claims, claims.sub),
        claims: toClaims(claims),
        tokens: {
          accessToken: tokens.access_token,
          ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
          ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
          ...(tokens.expires_in ? { expiresAt: Date.now() + tokens.expires_in * 1000 } : {}),
          ...(tokens.scope ? { scope: tokens.scope } : {}),
          tokenType: tokens.token_type,
        },
      };
    } catch (error) {
      throw classify(error);
    }
  }
}

function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}
