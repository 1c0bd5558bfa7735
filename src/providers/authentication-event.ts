// What a provider says of the sign-in itself rather than of the user: how (`amr`, RFC 8176; `acr`,
// OpenID Connect Core 1.0 section 2) and when (`auth_time`). Step-up trusts these (src/access/step-up.ts),
// so only the ID token of this sign-in may say them: a profile from a userinfo endpoint, an OAuth 2
// API or a callback parameter describes the user, and a field a user may name there must not
// pass for a second factor.
const AUTHENTICATION_EVENT_CLAIMS = ['amr', 'acr', 'auth_time'] as const;

/** `source` without the claims about the authentication event (for profiles that are not this sign-in's ID token). */
export function profileClaims<T extends Readonly<Record<string, unknown>>>(
  source: T,
): Omit<T, 'amr' | 'acr' | 'auth_time'> {
  const profile: Record<string, unknown> = { ...source };
  for (const name of AUTHENTICATION_EVENT_CLAIMS) delete profile[name];
  return profile as Omit<T, 'amr' | 'acr' | 'auth_time'>;
}

/** How far the provider's clock may be behind ours when it says when it authenticated the user. */
export const AUTH_TIME_TOLERANCE_SECONDS = 30;

/**
 * Why an ID token's `auth_time` (seconds, as the token says) shows no authentication after the
 * sign-in that asked for one started at `startedAtMs` (prompt=login, max_age=0: Core 1.0 section
 * 3.1.2.1 makes `auth_time` required then, section 3.1.3.7 step 13 says to check it), or undefined
 * when it does. A provider that answers from an earlier session of its own is refused, so a
 * sign-in asked to be recent can never be an old one passed off as new.
 */
export function staleAuthentication(authTime: unknown, startedAtMs: number): string | undefined {
  if (typeof authTime !== 'number' || !Number.isFinite(authTime))
    return 'the provider did not say when it authenticated the user (no auth_time), though SignOnce asked it to authenticate anew';
  if (authTime * 1000 < startedAtMs - AUTH_TIME_TOLERANCE_SECONDS * 1000)
    return `the provider did not authenticate the user anew: it signed them in at ${new Date(authTime * 1000).toISOString()}, before this sign-in started`;
  return undefined;
}
