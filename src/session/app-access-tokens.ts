// Access tokens of SignOnce's OpenID Provider for SignOnce's apps: RFC 9068 JWTs whose `aud` is
// the app's id, signed with the keys of authentication tokens (the provider's jwks_uri). What a
// service client (client_credentials) or a service acting for a user (token exchange) presents
// to an app. Verified as RFC 8725 asks: explicitly typed (section 3.11; RFC 9068 section 4:
// `at+jwt`), so neither an ID token nor an authentication token passes for one; SignOnce's own
// keys, by the `kid` they name, with their asymmetric algorithms only (sections 2.1, 3.1); `iss`
// and `aud` checked (sections 3.8, 3.9); every claim RFC 9068 section 2.2 requires present.
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { TokenRefused, verifyOwnToken, type AuthenticationTokens } from './authentication-tokens.ts';

/** The `typ` header values of an access token (RFC 9068 section 4), compared case-insensitively (RFC 7515 section 4.1.9). */
export const ACCESS_TOKEN_TYPES: readonly string[] = ['at+jwt', 'application/at+jwt'];
/** How far clocks may disagree on `exp`, `iat` and `nbf`. */
const CLOCK_TOLERANCE_SECONDS = 60;
/** RFC 9068 section 2.2. */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'] as const;

/** Who acts for the subject (RFC 8693 section 4.1): the client that exchanged the token, and whoever acted before it. */
export interface Actor {
  readonly sub: string;
  readonly act?: Actor;
}

export interface AppAccessClaims {
  readonly iss: string;
  /** The app the token is for (its id). */
  readonly aud: string;
  /** The account id for a user's token; the client id for a client's own (client_credentials, RFC 9068 section 2.2). */
  readonly sub: string;
  /** The client the token was issued to. */
  readonly client_id: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
  /** Space-separated scopes (the app's `scopes`), absent when none was granted. */
  readonly scope?: string;
  /** Present on a token obtained by token exchange: the client acting for `sub`. */
  readonly act?: Actor;
}

export interface AppAccessTokenOptions {
  /** SignOnce's issuer: publicUrl. */
  readonly issuer: string;
  /** The apps accepted here (ids); the token is for exactly one of them. */
  readonly audiences: readonly string[];
  /** The algorithms of SignOnce's keys: never `none`, never an HMAC. */
  readonly algorithms: readonly string[];
  /** Seconds since the epoch; the clock by default. */
  readonly now?: number;
}

/** Whether `value` is an `act` claim: `{ sub, act? }`, nested at most `depth` deep. */
function isActor(value: unknown, depth = 8): value is Actor {
  if (value === null || typeof value !== 'object' || depth === 0) return false;
  const { sub, act } = value as { sub?: unknown; act?: unknown };
  return typeof sub === 'string' && (act === undefined || isActor(act, depth - 1));
}

/**
 * The claims of an access token of SignOnce's OpenID Provider for one of `options.audiences`,
 * verified with `keys` by the rules of every token SignOnce issues (verifyOwnToken); throws
 * TokenRefused saying why not (its `reason`), or passes on a failure to get the keys, which says
 * nothing about the token.
 */
export async function verifyAppAccessToken(
  token: string,
  keys: JWTVerifyGetKey,
  options: AppAccessTokenOptions,
): Promise<AppAccessClaims> {
  const payload = await verifyOwnToken(token, keys, {
    ...options,
    typed: (typ) => typeof typ === 'string' && ACCESS_TOKEN_TYPES.includes(typ.toLowerCase()),
    otherType: 'not an access token (its typ is not at+jwt)',
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: REQUIRED_CLAIMS,
    stringClaims: ['sub', 'client_id', 'jti'],
  });
  if (payload.scope !== undefined && typeof payload.scope !== 'string')
    throw new TokenRefused('missing-claim', '"scope" is not a string');
  if (payload.act !== undefined && !isActor(payload.act))
    throw new TokenRefused('missing-claim', '"act" is not an actor ({ sub, act? })');
  return payload as unknown as AppAccessClaims;
}

/** Verifies access tokens with SignOnce's current key set (read again, at most every second, for a key it does not have yet). */
export class AppAccessTokenVerifier {
  readonly #tokens: AuthenticationTokens;
  readonly #issuer: string;

  constructor(tokens: AuthenticationTokens, issuer: string) {
    this.#tokens = tokens;
    this.#issuer = issuer;
  }

  /** The verified claims of `token` for the app `appId` (or one of several apps); throws TokenRefused. */
  async verify(token: string, appId: string | readonly string[]): Promise<AppAccessClaims> {
    const attempt = () => {
      const { keys } = this.#tokens.jwks();
      return verifyAppAccessToken(token, createLocalJWKSet({ keys }), {
        issuer: this.#issuer,
        audiences: typeof appId === 'string' ? [appId] : appId,
        algorithms: [...new Set(keys.flatMap((key) => (typeof key.alg === 'string' ? [key.alg] : [])))],
      });
    };
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof TokenRefused && error.reason === 'unknown-key' && (await this.#tokens.reloadIfStale()))
        return attempt();
      throw error;
    }
  }
}
