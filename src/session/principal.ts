// What an app learns about the signed-in user, in Easy Auth's shapes: the X-MS-CLIENT-PRINCIPAL*
// and X-MS-TOKEN-* headers, and the /.auth/me entries.
import { NAME_CLAIM_TYPE, ROLE_CLAIM_TYPE, type Claim } from '../providers/index.ts';
import type { Session, StoredTokens } from '../store/index.ts';

/** What a session remembers of its sign-in (sealed with the session). */
export interface SignedInIdentity {
  readonly provider: string;
  readonly subject: string;
  readonly name: string;
  readonly claims: readonly Claim[];
}

/**
 * A provider's text as a header value: its UTF-8 bytes (HTTP field values are bytes; Node writes a
 * string's characters as Latin-1 bytes), with control characters, which no field value may hold
 * (RFC 9110 section 5.5), replaced by U+FFFD. Without it, a user named "Łukasz" could use no app.
 */
/**
 * The identity a session was signed in with: the third-party token's (`via`, gateway/endpoints/external.ts),
 * else its user's; undefined for a session of no identity.
 */
export const signedInWith = (session: Pick<Session, 'data'>) =>
  (session.data.via ?? session.data.user) as Pick<SignedInIdentity, 'provider' | 'subject'> | undefined;

/** Who signed in to `session` and what their provider asserted (sealed with the session). */
export const sessionUser = (session: Pick<Session, 'data'>) => session.data.user as SignedInIdentity | undefined;

export function utf8HeaderValue(text: string): string {
  return Buffer.from(text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '\ufffd'), 'utf8').toString('latin1');
}

export function principalHeaders(user: SignedInIdentity): Record<string, string> {
  const principal = {
    auth_typ: user.provider,
    claims: user.claims,
    name_typ: NAME_CLAIM_TYPE,
    role_typ: ROLE_CLAIM_TYPE,
  };
  return {
    'x-ms-client-principal': Buffer.from(JSON.stringify(principal)).toString('base64'),
    'x-ms-client-principal-name': utf8HeaderValue(user.name),
    'x-ms-client-principal-id': utf8HeaderValue(user.subject),
    'x-ms-client-principal-idp': user.provider,
  };
}

/** `expires_on` as Easy Auth writes it: ISO 8601 in UTC. */
const expiresOn = (ms: number) => new Date(ms).toISOString();

/** X-MS-TOKEN-{PROVIDER}-* headers; refresh tokens only for apps that opted in. */
export function tokenHeaders(stored: StoredTokens, exposeRefreshTokens: boolean): Record<string, string> {
  const prefix = `x-ms-token-${stored.provider}-`;
  const { accessToken, idToken, refreshToken, expiresAt, accessTokenSecret } = stored.tokens;
  const headers: Record<string, string> = {};
  if (accessToken) headers[`${prefix}access-token`] = accessToken;
  if (idToken) headers[`${prefix}id-token`] = idToken;
  if (expiresAt !== undefined) headers[`${prefix}expires-on`] = expiresOn(expiresAt);
  if (accessTokenSecret) headers[`${prefix}access-token-secret`] = accessTokenSecret;
  if (refreshToken && exposeRefreshTokens) headers[`${prefix}refresh-token`] = refreshToken;
  return headers;
}

/**
 * Every identity header SignOnce may send an app, in lower case: the principal, every token header
 * of every provider (whichever the user signed in with; refresh tokens too), the app's resources'
 * (principalHeaders, tokenHeaders, resourceHeaders). For proxies that copy them by name
 * (forward-auth, cli/snippet.ts), which must also remove the ones a client sent.
 */
export function identityHeaderNames(
  resources: ReadonlyArray<{ alias: string }>,
  providerIds: readonly string[],
): string[] {
  const tokens = ['access-token', 'id-token', 'expires-on', 'access-token-secret', 'refresh-token'];
  return [
    'x-ms-client-principal',
    'x-ms-client-principal-name',
    'x-ms-client-principal-id',
    'x-ms-client-principal-idp',
    ...providerIds.flatMap((id) => tokens.map((kind) => `x-ms-token-${id}-${kind}`)),
    ...resources.flatMap(({ alias }) => [`x-signonce-token-${alias}`, `x-signonce-token-${alias}-expires-on`]),
  ];
}

/** X-SIGNONCE-TOKEN-{ALIAS} and its -EXPIRES-ON: an app's token for one of its resources. */
export function resourceHeaders(alias: string, stored: StoredTokens | undefined): Array<[string, string]> {
  const { accessToken, expiresAt } = stored?.tokens ?? {};
  if (!accessToken) return [];
  const name = `x-signonce-token-${alias}`;
  return [
    [name, accessToken],
    ...(expiresAt === undefined ? [] : [[`${name}-expires-on`, expiresOn(expiresAt)] as [string, string]]),
  ];
}

/** One /.auth/me entry; token fields only when stored (and refresh tokens only when exposed). */
export function meEntry(
  user: SignedInIdentity,
  stored: StoredTokens | undefined,
  exposeRefreshTokens: boolean,
): Record<string, unknown> {
  const tokens = stored?.tokens ?? {};
  return {
    provider_name: user.provider,
    user_id: user.name,
    user_claims: user.claims,
    ...(tokens.accessToken ? { access_token: tokens.accessToken } : {}),
    ...(tokens.expiresAt !== undefined ? { expires_on: expiresOn(tokens.expiresAt) } : {}),
    ...(tokens.idToken ? { id_token: tokens.idToken } : {}),
    ...(tokens.refreshToken && exposeRefreshTokens ? { refresh_token: tokens.refreshToken } : {}),
    ...(tokens.accessTokenSecret ? { access_token_secret: tokens.accessTokenSecret } : {}),
  };
}
