// The WWW-Authenticate challenge of an app's 401 (RFC 6750 section 3): its realm, why a presented
// token was refused, and where the app's protected-resource metadata is (RFC 9728 section 5.1),
// so an OAuth client finds the authorization servers whose tokens it takes.

export interface Challenge {
  /** The app's id (an id: lower-case letters, digits, "-" and "_"). */
  readonly realm: string;
  /**
   * RFC 6750 section 3.1 error code, when a token was presented and refused; RFC 9470 section 3's
   * `insufficient_user_authentication` when the sign-in behind it proved too little (step-up).
   */
  readonly error?: 'invalid_token' | 'insufficient_user_authentication';
  /** Why, in words for the developer (RFC 6750 section 3: error_description). */
  readonly description?: string;
  /** The URL of /.well-known/oauth-protected-resource on the host asked. */
  readonly resourceMetadata?: string | undefined;
  /** RFC 9470 section 3: how recent (seconds) the sign-in must be. */
  readonly maxAge?: number | undefined;
}

/**
 * Text as an RFC 6750 error_description: only %x20-21 / %x23-5B / %x5D-7E may appear, so `"` and
 * `\` (which would end or escape the quoted string) become `'` and `/`, and any other character
 * (control characters, non-ASCII) `?`; at most 200 characters.
 */
export function challengeText(text: string): string {
  return text
    .slice(0, 200)
    .replaceAll('"', "'")
    .replaceAll('\\', '/')
    .replace(/[^\x20-\x7e]/g, '?');
}

/** The challenge as a WWW-Authenticate value: `Bearer realm="…"` and the parameters given. */
export function bearerChallenge({ realm, error, description, resourceMetadata, maxAge }: Challenge): string {
  const parameters = [`realm="${challengeText(realm)}"`];
  if (error) parameters.push(`error="${error}"`);
  if (error && description) parameters.push(`error_description="${challengeText(description)}"`);
  if (maxAge !== undefined && Number.isSafeInteger(maxAge) && maxAge >= 0) parameters.push(`max_age="${maxAge}"`);
  if (resourceMetadata) parameters.push(`resource_metadata="${challengeText(resourceMetadata)}"`);
  return `Bearer ${parameters.join(', ')}`;
}
