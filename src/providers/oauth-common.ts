// What the OAuth-based providers share: how long a provider may take, when plain http is allowed,
// and how a failure is told to the user.
import * as client from 'openid-client';
import type { ProviderTokens } from '../store/index.ts';
import { ProviderError, type PendingSignIn, type TokenTarget } from './types.ts';

export const TIMEOUT_SECONDS = 10;

/** Plain http only for loopback servers (local development and tests). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** Sorts a provider failure into what the user is told and what is logged. */
export function classify(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof client.AuthorizationResponseError) {
    return new ProviderError(
      'denied',
      `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`,
      { cause: error },
    );
  }
  // A refresh token revoked, expired or reused (RFC 6749 section 5.2): the grant is gone.
  if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
    return new ProviderError(
      'denied',
      `invalid_grant${error.error_description ? `: ${error.error_description}` : ''}`,
      { cause: error },
    );
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  if (
    error instanceof TypeError ||
    (error as Error).name === 'TimeoutError' ||
    (error as Error).name === 'AbortError' ||
    cause?.code?.startsWith('E')
  ) {
    return new ProviderError('unreachable', `the provider could not be reached: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return new ProviderError('invalid-response', `the provider's answer failed validation: ${(error as Error).message}`, {
    cause: error,
  });
}

/**
 * The authorization request every code-flow provider sends: PKCE S256 always (RFC 9700 section
 * 2.1.1); `resources` named as RFC 8707 resource indicators (section 2.1), one parameter each.
 */
export async function authorizationRequest(
  config: client.Configuration,
  request: {
    callbackUrl: string;
    state: string;
    scopes: readonly string[];
    extra?: Readonly<Record<string, string>> | undefined;
    prompt?: string | undefined;
    nonce?: string | undefined;
    resources?: readonly string[] | undefined;
  },
): Promise<{ url: string; pending: PendingSignIn }> {
  const verifier = client.randomPKCECodeVerifier();
  const parameters = new URLSearchParams({
    ...request.extra,
    redirect_uri: request.callbackUrl,
    response_type: 'code',
    scope: request.scopes.join(' '),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: request.state,
    ...(request.nonce ? { nonce: request.nonce } : {}),
    ...(request.prompt ? { prompt: request.prompt } : {}),
  });
  for (const resource of request.resources ?? []) parameters.append('resource', resource);
  const url = client.buildAuthorizationUrl(config, parameters);
  return { url: url.href, pending: { verifier, ...(request.nonce ? { nonce: request.nonce } : {}) } };
}

/**
 * The refresh-token grant (RFC 6749 section 6): the new tokens, keeping what the answer leaves out
 * (a refresh token that was not rotated, an ID token not reissued). For a `target`, the access
 * token is asked for its resource (RFC 8707 section 2.2) and scopes (RFC 6749 section 6 `scope`).
 */
export async function refreshGrant(
  config: client.Configuration,
  current: ProviderTokens,
  target?: TokenTarget,
): Promise<ProviderTokens> {
  if (!current.refreshToken) throw new ProviderError('denied', 'no refresh token is stored');
  const parameters = {
    ...(target?.resource ? { resource: target.resource } : {}),
    ...(target?.scopes.length ? { scope: target.scopes.join(' ') } : {}),
  };
  try {
    const fresh = providerTokens(await client.refreshTokenGrant(config, current.refreshToken, parameters));
    return { ...current, ...fresh, ...(fresh.expiresAt === undefined ? { expiresAt: undefined } : {}) };
  } catch (error) {
    throw classify(error);
  }
}

/** A token endpoint response as SignOnce stores it. */
export function providerTokens(tokens: client.TokenEndpointResponse): ProviderTokens {
  return {
    accessToken: tokens.access_token,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    ...(tokens.id_token ? { idToken: tokens.id_token } : {}),
    ...(tokens.expires_in ? { expiresAt: Date.now() + tokens.expires_in * 1000 } : {}),
    ...(tokens.scope ? { scope: tokens.scope } : {}),
    tokenType: tokens.token_type,
  };
}
