// What a request on an app host presents — SignOnce's authentication token (X-ZUMO-AUTH, or a
// bearer token of its type), an identity provider's access token as a bearer token (at an app
// with acceptProviderTokens), or else its session cookie — and the live session each of
// SignOnce's own leads to (each lookup a use of the session: an idle one is not live, last-seen.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { AppConfig } from '../config/index.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Session, Store } from '../store/index.ts';
import { TokenRefused, isAuthenticationTokenType, type AuthenticationClaims } from './authentication-tokens.ts';
import type { AuthenticationTokens } from './authentication-tokens.ts';
import { openSessionCookie, readCookie } from './cookies.ts';
import type { LastSeen } from './last-seen.ts';

/** A token was presented and is not accepted here: 401, whatever else the request carries. */
export interface Refused {
  readonly refused: string;
}

/** A token whose session ended (signed out, expired, idle). */
export const SESSION_ENDED: Refused = { refused: 'session-ended' };

export type Credential = { token: string } | { providerToken: string } | { cookie: string };

/** The token in `Authorization: Bearer <token>`, if that is the header's form. */
export const bearerToken = (authorization: string | undefined) => /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];

/**
 * What a request presents: SignOnce's token (X-ZUMO-AUTH, or a bearer token of its type), else
 * another bearer token the app reads (`readsBearer`: the app takes providers' tokens, or the token
 * claims SignOnce's OpenID Provider as issuer; a token presented is the request's credential,
 * RFC 6750 section 2.1), else its cookie. Any other bearer token is the app's business: passed on,
 * not read.
 */
export function credentialOf(
  headers: IncomingHttpHeaders,
  cookieName: string,
  readsBearer: (token: string) => boolean = () => false,
): Credential | undefined {
  const zumo = headers['x-zumo-auth'];
  if (typeof zumo === 'string') return { token: zumo.trim() };
  const bearer = bearerToken(headers.authorization);
  if (bearer && isAuthenticationTokenType(bearer)) return { token: bearer };
  if (bearer && readsBearer(bearer)) return { providerToken: bearer };
  const cookie = readCookie(headers.cookie, cookieName);
  return cookie ? { cookie } : undefined;
}

/** A credential's key in the cache of resolved answers (signed-in-cache.ts). */
export const cacheKeyOf = (credential: Credential) =>
  'token' in credential
    ? `token:${credential.token}`
    : 'providerToken' in credential
      ? `provider-token:${credential.providerToken}`
      : `cookie:${credential.cookie}`;

/**
 * The claims and live session of a token accepted by this app (its own, or one of an app it
 * trusts). With `expiredGraceMs` (the /.auth/refresh grace, only there), also a token and
 * session expired at most that long ago.
 */
export async function sessionOfToken(
  deps: { authenticationTokens: AuthenticationTokens; store: Store; lastSeen: LastSeen },
  token: string,
  appConfig: AppConfig,
  expiredGraceMs = 0,
): Promise<{ claims: AuthenticationClaims; session: Session } | Refused> {
  let claims;
  try {
    claims = await deps.authenticationTokens.verify(
      token,
      [appConfig.id, ...appConfig.acceptTokensFrom],
      expiredGraceMs / 1000,
    );
  } catch (error) {
    if (error instanceof TokenRefused) return { refused: error.reason };
    throw error;
  }
  // A token works while its session lives: a sign-out ends the tokens issued for it too.
  const session = await deps.store.getSessionByRef(claims.sid, expiredGraceMs);
  if (!session || session.accountId !== claims.sub || !(await deps.lastSeen.use(session))) return SESSION_ENDED;
  return { claims, session };
}

/** The live session of a session cookie sealed for `host`; undefined for any other cookie. */
export async function sessionOfCookie(
  deps: { keyring: Keyring; store: Store; lastSeen: LastSeen },
  cookie: string,
  host: string,
): Promise<Session | undefined> {
  const secret = openSessionCookie(deps.keyring, cookie, host);
  const session = secret ? await deps.store.getSession(secret) : undefined;
  return session && (await deps.lastSeen.use(session)) ? session : undefined;
}
