// Client-directed sign-in (POST /.auth/login/{provider}) takes provider tokens as proof of who is
// signing in. Apps behind the gateway receive such tokens too (X-MS-TOKEN-*, /.auth/me), so a
// token proves a sign-in made for SignOnce now only if it is fresh and used once: an ID token is
// accepted only within ID_TOKEN_MAX_AGE_MS of its `iat` (OpenID Connect Core 1.0 section 3.1.3.7,
// step 10: "reject tokens that were issued too far away from the current time"), and each ID
// token or OAuth 1.0a token signs in once. Every such token SignOnce receives itself (web sign-in,
// refresh, link) is remembered at receipt, so one handed to an app never signs in anywhere.
import { decodeJwt } from 'jose';
import type { ProviderTokens, Store } from '../store/index.ts';

/** How long after its `iat` an ID token may still sign in. */
export const ID_TOKEN_MAX_AGE_MS = 5 * 60_000;
/** How far in the future an `iat` may be (the provider's clock ahead of ours). */
export const ID_TOKEN_CLOCK_SKEW_MS = 60_000;
/**
 * How long an OAuth 1.0a token is remembered: such tokens never expire, so a pair is accepted
 * once, and one SignOnce obtained itself never, for 400 days after it was last seen.
 */
export const OAUTH1_TOKEN_REMEMBERED_MS = 400 * 86_400_000;

/** Why an ID token issued at `iat` (seconds, as the JWT says) cannot sign in at `now` (ms); undefined when it is fresh. */
export function idTokenStaleness(iat: unknown, now: number): string | undefined {
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'id_token has no iat (issued-at time)';
  const issued = iat * 1000;
  const at = new Date(issued).toISOString();
  if (issued > now + ID_TOKEN_CLOCK_SKEW_MS) return `id_token issued in the future (iat ${at})`;
  if (issued < now - ID_TOKEN_MAX_AGE_MS)
    return `id_token issued too long ago (iat ${at}; at most ${ID_TOKEN_MAX_AGE_MS / 60_000} minutes)`;
  return undefined;
}

/** A token that signs in at most once, and until when it must be remembered for that. */
export interface SingleUseToken {
  readonly kind: 'id_token' | 'oauth1_access_token';
  readonly value: string;
  readonly until: number;
}

/**
 * The tokens among `tokens` that sign in at most once, each with the last moment it could still
 * be accepted (an ID token: its `iat` + ID_TOKEN_MAX_AGE_MS, whatever its `exp`; an OAuth 1.0a
 * token: OAUTH1_TOKEN_REMEMBERED_MS from `now`). Those that can no longer be accepted are left out.
 */
export function singleUseTokens(tokens: ProviderTokens, now: number): SingleUseToken[] {
  const found: SingleUseToken[] = [];
  if (tokens.idToken) {
    let iat: unknown;
    try {
      iat = decodeJwt(tokens.idToken).iat;
    } catch {
      iat = undefined;
    }
    // Without a valid iat an ID token never signs in (idTokenStaleness): nothing to remember.
    if (typeof iat === 'number' && Number.isFinite(iat) && iat * 1000 + ID_TOKEN_MAX_AGE_MS > now) {
      found.push({ kind: 'id_token', value: tokens.idToken, until: iat * 1000 + ID_TOKEN_MAX_AGE_MS });
    }
  }
  if (tokens.accessToken && tokens.accessTokenSecret) {
    found.push({ kind: 'oauth1_access_token', value: tokens.accessToken, until: now + OAUTH1_TOKEN_REMEMBERED_MS });
  }
  return found;
}

/** Remembers the single-use tokens of `tokens` SignOnce received from a provider, so none of them ever signs in through POST /.auth/login. */
export async function rememberReceived(store: Store, tokens: ProviderTokens, now: number): Promise<void> {
  for (const token of singleUseTokens(tokens, now)) await store.rememberOnce(token.kind, token.value, token.until);
}
