// An identity provider's access tokens presented to an app as `Authorization: Bearer`
// (apps[].acceptProviderTokens; Easy Auth's validation.allowedAudiences). The provider is picked by
// the token's `iss`, never by trying keys (RFC 8725 section 3.8); the token is verified with that
// provider's keys as every third-party JWT is (accounts/external-issuers.ts: asymmetric algorithms
// only, no key-pointing headers, `iss` exact, `exp` required, `nbf`/`iat` within 60 s), for one of
// the app's audiences (section 3.9), as an access token (RFC 9068 section 4: never an ID token),
// and, when the app lists them, from one of its applications.
import { decodeJwt, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ExternalTokenRefused, subjectOf, verifyExternalToken } from '../accounts/external-issuers.ts';
import { EXTERNAL_ALGORITHMS, type AppConfig, type Config } from '../config/index.ts';
import type { Provider } from '../providers/index.ts';
import { ACCESS_TOKEN_TYPES, type AppAccessTokenVerifier } from './app-access-tokens.ts';
import { TokenRefused } from './authentication-tokens.ts';

/** The principal's identity provider for access tokens of SignOnce's own OpenID Provider. */
export const OWN_TOKENS_PROVIDER = 'signonce';

/** One entry of an app's acceptProviderTokens, with its provider's issuer and keys. */
export interface AcceptedIssuer {
  /** The provider's id: the principal's identity provider (auth_typ, X-MS-CLIENT-PRINCIPAL-IDP). */
  readonly provider: string;
  readonly issuer: string;
  readonly keys: JWTVerifyGetKey;
  readonly audiences: readonly string[];
  /** Client ids; undefined: any application. */
  readonly allowedApplications?: readonly string[] | undefined;
}

/** A provider's access token accepted by an app. */
export interface VerifiedProviderToken {
  readonly provider: string;
  readonly claims: JWTPayload & { readonly sub: string; readonly exp: number };
  /** The application the token was issued to (`azp`, `appid` or `client_id`), when it names one. */
  readonly clientId: string | undefined;
  /** No user: the application calls for itself (client credentials). */
  readonly alone: boolean;
  /** Issued by SignOnce's own OpenID Provider: a user's `sub` is their account id. */
  readonly own?: true;
}

const NOT_A_JWT = Symbol('not a JWT');
/** The `iss` a JWT claims, unverified (to pick who verifies it); NOT_A_JWT for anything else. */
function claimedIssuer(token: string): unknown {
  try {
    return decodeJwt(token).iss;
  } catch {
    return NOT_A_JWT;
  }
}

/**
 * Why a JWT with header `typ` and `claims` is not an access token (RFC 9068 section 4); undefined
 * when it is one. `at+jwt` is; a token typed `JWT` or untyped (as Entra ID and others issue access
 * tokens) only when it grants something (`scp`, `scope` or `roles`) and has no `nonce`, which only
 * ID tokens carry (OpenID Connect Core 1.0 section 2): an ID token is never a bearer credential.
 * Any other type (`dpop+jwt`, `id_token+jwt`, `logout+jwt`…) names another kind of JWT.
 */
export function accessTokenTypeProblem(typ: unknown, claims: JWTPayload): string | undefined {
  const type = typeof typ === 'string' ? typ.toLowerCase() : typ;
  if (ACCESS_TOKEN_TYPES.includes(type as string)) return undefined;
  if (type !== undefined && type !== 'jwt')
    return `its type (the "typ" header) is ${JSON.stringify(typ)}, not at+jwt: it is not an access token`;
  if (claims.nonce !== undefined) return 'it carries a nonce: it is an ID token, not an access token';
  if (claims.scp === undefined && claims.scope === undefined && claims.roles === undefined)
    return 'it is not typed at+jwt and grants nothing (no scp, scope or roles claim): it is not an access token';
  return undefined;
}

/** The application a token was issued to: OpenID Connect's `azp`, Entra ID v1's `appid`, RFC 9068's `client_id`. */
export function callingApplication(claims: JWTPayload): string | undefined {
  for (const name of ['azp', 'appid', 'client_id']) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/**
 * Whether a token has no user: its subject is the application itself (RFC 9068 section 2.2,
 * client credentials), or Entra ID says so (`idtyp: app`).
 */
export const isApplicationToken = (claims: JWTPayload, clientId: string | undefined) =>
  claims.idtyp === 'app' || (clientId !== undefined && claims.sub === clientId);

/** `token` verified as an access token of one of `accepted`; throws ExternalTokenRefused, or IssuerUnavailable. */
export async function verifyProviderAccessToken(
  token: string,
  accepted: readonly AcceptedIssuer[],
): Promise<VerifiedProviderToken> {
  const issuer = claimedIssuer(token);
  if (issuer === NOT_A_JWT) throw new ExternalTokenRefused('not a JWT');
  const from = accepted.find((entry) => entry.issuer === issuer);
  if (!from)
    throw new ExternalTokenRefused('not issued by a provider whose tokens this app accepts (acceptProviderTokens)');
  const { payload, header } = await verifyExternalToken(token, from.keys, {
    id: from.provider,
    issuer: from.issuer,
    audience: from.audiences,
    algorithms: EXTERNAL_ALGORITHMS,
  });
  const problem = accessTokenTypeProblem(header.typ, payload);
  if (problem) throw new ExternalTokenRefused(problem);
  const sub = subjectOf(payload, 'sub');
  const clientId = callingApplication(payload);
  const alone = isApplicationToken(payload, clientId);
  if (alone && clientId === undefined)
    throw new ExternalTokenRefused('an application token must name its application (azp, appid or client_id)');
  if (from.allowedApplications && (clientId === undefined || !from.allowedApplications.includes(clientId)))
    throw new ExternalTokenRefused(
      clientId === undefined
        ? 'it names no application (azp, appid or client_id), and this app lets only allowedApplications in'
        : `the application ${JSON.stringify(clientId)} is not one of this app's allowedApplications`,
    );
  return { provider: from.provider, claims: { ...payload, sub, exp: payload.exp! }, clientId, alone };
}

/** SignOnce's OpenID Provider (when `clients` are configured): its issuer and its tokens' verifier. */
export interface OwnIssuer {
  readonly issuer: string;
  readonly verifier: AppAccessTokenVerifier;
}

/**
 * Each app's accepted providers, and the tokens verified lately: a token's verification is a pure
 * function of the token and the provider's keys, so it is kept until the token expires (only
 * accepted tokens are kept: forged ones cannot fill it; at most `maxEntries`). Every app also takes
 * the access tokens SignOnce's own OpenID Provider issues for it (RFC 9068, `aud` = the app's id):
 * a bearer token claiming that issuer is verified as one, at any app; other bearer tokens at an
 * app without acceptProviderTokens stay the app's business.
 */
export class ProviderBearerTokens {
  readonly #byApp: ReadonlyMap<string, readonly AcceptedIssuer[]>;
  readonly #own: OwnIssuer | undefined;
  readonly #verified = new Map<string, { readonly verified: VerifiedProviderToken; readonly until: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(
    config: Pick<Config, 'apps'>,
    providers: ReadonlyMap<string, Pick<Provider, 'signing'>>,
    {
      own,
      maxEntries = 10_000,
      now = () => Date.now(),
    }: { own?: OwnIssuer | undefined; maxEntries?: number; now?: () => number } = {},
  ) {
    this.#own = own;
    this.#byApp = new Map(
      config.apps.map((app) => [
        app.id,
        app.acceptProviderTokens.map((entry) => {
          const signing = providers.get(entry.provider)?.signing;
          // The config check (checks.ts) names OpenID Connect providers only.
          if (!signing)
            throw new Error(`apps: ${app.id}: provider ${entry.provider} signs no tokens SignOnce can verify`);
          return { ...entry, issuer: signing.issuer, keys: signing.keys };
        }),
      ]),
    );
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** Whether the app reads this bearer token: it takes providers' tokens, or the token claims SignOnce's own issuer. */
  accepts(appConfig: AppConfig, token: string): boolean {
    return (
      (this.#byApp.get(appConfig.id)?.length ?? 0) > 0 ||
      (this.#own !== undefined && claimedIssuer(token) === this.#own.issuer)
    );
  }

  /** `token` verified for the app (verifyProviderAccessToken), from the tokens verified lately when it is one. */
  async verify(token: string, appConfig: AppConfig): Promise<VerifiedProviderToken> {
    const key = `${appConfig.id}\n${token}`;
    const kept = this.#verified.get(key);
    if (kept && kept.until > this.#now()) return kept.verified;
    this.#verified.delete(key);
    const verified =
      this.#own && claimedIssuer(token) === this.#own.issuer
        ? await this.#ownToken(token, appConfig, this.#own)
        : await verifyProviderAccessToken(token, this.#byApp.get(appConfig.id) ?? []);
    if (this.#verified.size >= this.#maxEntries) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(key, { verified, until: verified.claims.exp * 1000 });
    return verified;
  }

  /** An access token of SignOnce's OpenID Provider for this app; a client's own when `sub` is its id (RFC 9068 section 2.2). */
  async #ownToken(token: string, appConfig: AppConfig, own: OwnIssuer): Promise<VerifiedProviderToken> {
    let claims;
    try {
      claims = await own.verifier.verify(token, appConfig.id);
    } catch (error) {
      // The reasons SignOnce's own tokens are refused with, as for its authentication tokens.
      if (error instanceof TokenRefused) throw new ExternalTokenRefused(error.reason);
      throw error;
    }
    return {
      provider: OWN_TOKENS_PROVIDER,
      claims: { ...claims },
      clientId: claims.client_id,
      alone: claims.sub === claims.client_id,
      own: true,
    };
  }
}
