// What a new sign-in's tokens make of the set stored (Store.mergeTokens): each kind of token it
// brings replaces its own kind; what it lacks stays. A client-directed sign-in with only an ID
// token must not take away the access and refresh tokens a web sign-in stored (a token response
// without a refresh token leaves the one held valid: RFC 6749 section 6; OpenID Connect Core 1.0
// section 12.2).
import type { ProviderTokens } from './types.ts';

/** The fields that belong to the access token: they go and come with it. */
const ACCESS_TOKEN_FIELDS = [
  'accessToken',
  'accessTokenSecret',
  'expiresAt',
  'scope',
  'tokenType',
  'refreshedAt',
] as const;

/** `stored` with what `brought` holds of each kind (access token and its fields, refresh token, ID token). */
export function mergedTokens(stored: ProviderTokens | undefined, brought: ProviderTokens): ProviderTokens {
  const merged: Record<string, unknown> = { ...stored };
  if (brought.accessToken !== undefined) {
    for (const field of ACCESS_TOKEN_FIELDS) {
      delete merged[field];
      if (brought[field] !== undefined) merged[field] = brought[field];
    }
  }
  if (brought.refreshToken !== undefined) merged.refreshToken = brought.refreshToken;
  if (brought.idToken !== undefined) merged.idToken = brought.idToken;
  return merged as ProviderTokens;
}
