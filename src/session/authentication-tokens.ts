// Authentication tokens: what a native app, an API client or another app presents instead of a
// session cookie (X-ZUMO-AUTH, or Authorization: Bearer). JWTs (RFC 7519) signed by SignOnce's own
// keys, explicitly typed (RFC 8725 section 3.11) so no other JWT can pass for one, verified only
// against SignOnce's key set with an allow-list of algorithms (RFC 8725 sections 2.1 and 3.1).
import { CodedError } from '../errors/index.ts';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { FORBIDDEN_HEADERS } from '../crypto/jws.ts';
import {
  currentSigningKey,
  generateSigningKey,
  jwks,
  publishedSigningKeys,
  type SigningAlgorithm,
} from '../crypto/signing-keys.ts';
import { pairwiseId } from '../accounts/pairwise.ts';
import type { Session, Store, SigningKey } from '../store/index.ts';
import { acrOf, amrOf } from '../access/step-up.ts';
import { sessionUser } from './principal.ts';

/** The `typ` header of every authentication token. */
export const AUTHENTICATION_TOKEN_TYPE = 'signonce-auth+jwt';
/** How far clocks may disagree: an expired token is refused once it is this much past `exp`. */
export const CLOCK_SKEW_SECONDS = 300;
const PAIRWISE_SECRET = 'pairwise-ids';
// A token naming a key not loaded here may come from an instance that loaded a new key first:
// the key set is read again, at most this often.
const RELOAD_ON_UNKNOWN_KEY_MS = 1000;

export interface AuthenticationClaims {
  readonly iss: string;
  /** The app the token was issued for. */
  readonly aud: string;
  /** The account id: the same in every app. */
  readonly sub: string;
  /** The pairwise id of the account for `aud`. */
  readonly uid: string;
  /** The provider the session signed in with. */
  readonly idp: string;
  /** The session (`Session.ref`): a token works while its session lives. */
  readonly sid: string;
  /** How the session's sign-in authenticated the user (RFC 8176), when its provider said. */
  readonly amr?: string[];
  /** The authentication context class its provider asserted (OpenID Connect Core 1.0 section 2). */
  readonly acr?: string;
  readonly iat: number;
  readonly exp: number;
}

export type TokenRefusal =
  | 'malformed'
  | 'forbidden-header'
  | 'wrong-type'
  | 'unknown-key'
  | 'bad-signature'
  | 'wrong-algorithm'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'expired'
  | 'missing-claim';

export class TokenRefused extends CodedError {
  static readonly code = 'ERR_TOKEN_REFUSED';
  readonly code = TokenRefused.code;
  readonly reason: TokenRefusal;
  constructor(reason: TokenRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The `kid` of an app's HS256 tokens: names the app's secret, never looked up in the key set. */
const hmacKeyId = (app: string) => `hs256:${app}`;

/** Whether a token's header says HS256 (legacy per-app tokens); malformed tokens say no. */
function isHmacToken(token: string): boolean {
  try {
    return decodeProtectedHeader(token).alg === 'HS256';
  } catch {
    return false;
  }
}

/** Whether a bearer token says it is an authentication token (its `typ`); other bearer tokens are the app's business. */
export function isAuthenticationTokenType(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === AUTHENTICATION_TOKEN_TYPE;
  } catch {
    return false;
  }
}

export interface VerifyOptions {
  readonly issuer: string;
  /** The audiences accepted here: the app itself and the apps it trusts. */
  readonly audiences: readonly string[];
  /** The algorithms accepted: those of the issuer's keys, never `none` or an HMAC. */
  readonly algorithms: readonly string[];
  /** Seconds since the epoch; the clock by default. */
  readonly now?: number;
  /** Accept tokens expired for up to this many more seconds (the /.auth/refresh grace). */
  readonly expiredGraceSeconds?: number;
}

const REQUIRED_CLAIMS = ['sub', 'uid', 'idp', 'sid', 'iat', 'exp'] as const;

/**
 * Why jose refused a token, in our words. Failing to get the keys (a remote key set unreachable)
 * says nothing about the token: that error is passed on as it is.
 */
function refusal(error: unknown): unknown {
  if (error instanceof TokenRefused) return error;
  if (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    !(error instanceof errors.JOSEError)
  )
    return error;
  const message = (error as Error).message;
  if (error instanceof errors.JWKSNoMatchingKey)
    return new TokenRefused('unknown-key', 'signed by a key SignOnce does not have');
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return new TokenRefused('bad-signature', 'the signature does not verify');
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenRefused('wrong-algorithm', message);
  if (error instanceof errors.JWTExpired) return new TokenRefused('expired', 'expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return new TokenRefused('wrong-issuer', 'issued by someone else');
    if (error.claim === 'aud') return new TokenRefused('wrong-audience', 'issued for another app');
    if (error.claim === 'typ') return new TokenRefused('wrong-type', 'not an authentication token');
    return new TokenRefused('missing-claim', message);
  }
  return new TokenRefused('malformed', message);
}

/** What a JWT SignOnce issued must be, beyond RFC 8725's rules every one of them follows. */
export interface OwnTokenRules {
  readonly issuer: string;
  /** The audiences accepted; a token is for exactly one. */
  readonly audiences: readonly string[];
  /** The algorithms of SignOnce's keys (or an app's HS256 secret): never `none`, never an HMAC keyed with a public key. */
  readonly algorithms: readonly string[];
  /** Seconds since the epoch; the clock by default. */
  readonly now?: number;
  /** Whether a `typ` header is that of this kind of token (RFC 8725 section 3.11). */
  readonly typed: (typ: unknown) => boolean;
  /** What a token of another type is not, in words: "not an authentication token". */
  readonly otherType: string;
  readonly clockToleranceSeconds: number;
  /** Claims that must be present, and those of them that must be strings. */
  readonly requiredClaims: readonly string[];
  readonly stringClaims: readonly string[];
}

/**
 * The claims of a JWT SignOnce issued (an authentication token; the OpenID Provider's access
 * tokens), verified with `keys` (the issuer's key set: local, or remote for app backends): no
 * header that points at keys elsewhere, its own type, an accepted algorithm, a named key — the
 * `kid` is only ever a lookup into that set —, `iss`, one `aud` of those accepted. Throws
 * TokenRefused saying why not; a failure to get the keys is passed on as it is.
 */
export async function verifyOwnToken(token: string, keys: JWTVerifyGetKey, rules: OwnTokenRules): Promise<JWTPayload> {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch (error) {
    throw new TokenRefused('malformed', (error as Error).message);
  }
  try {
    const forbidden = FORBIDDEN_HEADERS.find((name) => name in header);
    if (forbidden) throw new TokenRefused('forbidden-header', `the "${forbidden}" header is not accepted`);
    if (!rules.typed(header.typ)) throw new TokenRefused('wrong-type', rules.otherType);
    if (!rules.algorithms.includes(String(header.alg)))
      throw new TokenRefused('wrong-algorithm', `"${String(header.alg)}" is not an accepted algorithm`);
    // Every token SignOnce issues names its key; without one jose would try any key of the right type.
    if (typeof header.kid !== 'string') throw new TokenRefused('unknown-key', 'names no key');
    const { payload } = await jwtVerify(token, keys, {
      issuer: rules.issuer,
      audience: [...rules.audiences],
      algorithms: [...rules.algorithms],
      ...(rules.now === undefined ? {} : { currentDate: new Date(rules.now * 1000) }),
      clockTolerance: rules.clockToleranceSeconds,
      requiredClaims: [...rules.requiredClaims],
    });
    for (const claim of rules.stringClaims) {
      if (typeof payload[claim] !== 'string') throw new TokenRefused('missing-claim', `"${claim}" is not a string`);
    }
    if (typeof payload.aud !== 'string')
      throw new TokenRefused('wrong-audience', 'a token is issued for exactly one app');
    return payload;
  } catch (error) {
    throw refusal(error);
  }
}

/**
 * The claims of an authentication token, verified with `keys` (the issuer's key set: local, or
 * remote for app backends); throws TokenRefused saying why not.
 */
export async function verifyAuthenticationToken(
  token: string,
  keys: JWTVerifyGetKey,
  options: VerifyOptions,
): Promise<AuthenticationClaims> {
  return (await verifyOwnToken(token, keys, {
    ...options,
    typed: (typ) => typ === AUTHENTICATION_TOKEN_TYPE,
    otherType: 'not an authentication token',
    clockToleranceSeconds: CLOCK_SKEW_SECONDS + (options.expiredGraceSeconds ?? 0),
    requiredClaims: REQUIRED_CLAIMS,
    stringClaims: ['sub', 'uid', 'idp', 'sid'],
  })) as unknown as AuthenticationClaims;
}

export interface AuthenticationTokenOptions {
  readonly issuer: string;
  /** How long a token stays usable after its signing key retires: its lifetime and the refresh grace. */
  readonly tokenValidityMs: number;
  /** The algorithm of keys made here. */
  readonly algorithm?: SigningAlgorithm;
  /**
   * Apps whose tokens are signed HS256 with a secret of their own (`tokenSigning`), for backends
   * that can only check an HMAC: app id -> secret.
   */
  readonly hmacSecrets?: ReadonlyMap<string, Uint8Array>;
  readonly now?: () => number;
}

/**
 * Adds a new key, which signs from now on, and retires every other (they stay published until
 * their tokens expire). Returns the new key and the ones retired.
 */
export async function rotateSigningKey(
  store: Store,
  alg: SigningAlgorithm,
): Promise<{ added: SigningKey; retired: SigningKey[] }> {
  const added = await store.addSigningKey(await generateSigningKey(alg));
  const retired = (await store.listSigningKeys()).filter((key) => key.kid !== added.kid && key.retiredAt === undefined);
  for (const key of retired) await store.retireSigningKey(key.kid);
  return { added, retired };
}

/** Issues and verifies authentication tokens with the key set kept in the store. */
export class AuthenticationTokens {
  readonly #store: Store;
  readonly #options: AuthenticationTokenOptions;
  readonly #pairwiseSecret: Buffer;
  #keys: SigningKey[] = [];
  #loadedAt = Number.NEGATIVE_INFINITY;

  private constructor(store: Store, options: AuthenticationTokenOptions, pairwiseSecret: Buffer) {
    this.#store = store;
    this.#options = options;
    this.#pairwiseSecret = pairwiseSecret;
  }

  /** Loads the key set, making the first key when there is none (first start). */
  static async open(store: Store, options: AuthenticationTokenOptions): Promise<AuthenticationTokens> {
    const tokens = new AuthenticationTokens(store, options, await store.instanceSecret(PAIRWISE_SECRET));
    // A key rotated anywhere is used (and published) here as soon as the store tells; one missed
    // while it could not tell is read when it can again. A failed read is retried by the gateway's
    // periodic reload, which also serves stores that cannot tell (several processes on SQLite).
    store.watch((change) => {
      if (change.kind === 'signing-keys-changed' || change.kind === 'hearing') tokens.reload().catch(() => undefined);
    });
    await tokens.reload();
    if (!currentSigningKey(tokens.#keys)) {
      await store.addSigningKey(await generateSigningKey(options.algorithm ?? 'EdDSA'));
      await tokens.reload();
    }
    return tokens;
  }

  /** Reads the key set again (after `signonce keys rotate-signing`, or another instance's first start). */
  async reload(): Promise<void> {
    this.#loadedAt = this.#now();
    this.#keys = await this.#store.listSigningKeys();
  }

  /** Reads the key set again unless that was done within `RELOAD_ON_UNKNOWN_KEY_MS`; true when it did. */
  async reloadIfStale(): Promise<boolean> {
    if (this.#now() - this.#loadedAt < RELOAD_ON_UNKNOWN_KEY_MS) return false;
    await this.reload();
    return true;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /** The key tokens are signed with now (asymmetric; HS256 apps use their own secret). */
  signingKey(): SigningKey {
    return currentSigningKey(this.#keys)!;
  }

  /** The public keys tokens may be verified with now. */
  jwks(): { keys: JWK[] } {
    return jwks(publishedSigningKeys(this.#keys, this.#now(), this.#options.tokenValidityMs));
  }

  pairwiseId(accountId: string, appId: string): string {
    return pairwiseId(this.#pairwiseSecret, accountId, appId);
  }

  /**
   * A token of `session` for `app`, signed in with `idp`, valid until the session ends; with the
   * sign-in's `amr` and `acr`, so an app checking the token itself can tell a second factor.
   */
  async issue(
    session: Pick<Session, 'accountId' | 'ref' | 'expiresAt' | 'data'>,
    app: string,
    idp: string,
  ): Promise<string> {
    const hmacSecret = this.#options.hmacSecrets?.get(app);
    const key = this.signingKey();
    const now = Math.floor(this.#now() / 1000);
    const claims = sessionUser(session)?.claims ?? [];
    const amr = amrOf(claims);
    const acr = acrOf(claims);
    const jwt = new SignJWT({
      uid: this.pairwiseId(session.accountId, app),
      idp,
      sid: session.ref,
      ...(amr.length ? { amr } : {}),
      ...(acr !== undefined ? { acr } : {}),
    })
      .setProtectedHeader(
        hmacSecret
          ? { alg: 'HS256', kid: hmacKeyId(app), typ: AUTHENTICATION_TOKEN_TYPE }
          : { alg: key.alg, kid: key.kid, typ: AUTHENTICATION_TOKEN_TYPE },
      )
      .setIssuer(this.#options.issuer)
      .setAudience(app)
      .setSubject(session.accountId)
      .setIssuedAt(now)
      .setExpirationTime(Math.floor(session.expiresAt / 1000));
    return jwt.sign(hmacSecret ?? (await importJWK(key.privateJwk as JWK, key.alg)));
  }

  /**
   * An HS256 token: checked only with the secret of an accepted app that signs with one, that app
   * as the only audience. The key decides the algorithm (RFC 8725 section 3.1), never the token.
   */
  async #verifyHmac(
    token: string,
    audiences: readonly string[],
    expiredGraceSeconds: number,
  ): Promise<AuthenticationClaims> {
    let refusal: TokenRefused | undefined;
    for (const app of audiences) {
      const secret = this.#options.hmacSecrets?.get(app);
      if (!secret) continue;
      try {
        return await verifyAuthenticationToken(token, async () => secret, {
          issuer: this.#options.issuer,
          audiences: [app],
          algorithms: ['HS256'],
          now: Math.floor(this.#now() / 1000),
          expiredGraceSeconds,
        });
      } catch (error) {
        if (!(error instanceof TokenRefused)) throw error;
        refusal = error;
      }
    }
    throw (
      refusal ??
      new TokenRefused(
        'wrong-algorithm',
        '"HS256" is accepted only for apps that sign with their own secret (tokenSigning)',
      )
    );
  }

  async verify(token: string, audiences: readonly string[], expiredGraceSeconds = 0): Promise<AuthenticationClaims> {
    if (isHmacToken(token)) return this.#verifyHmac(token, audiences, expiredGraceSeconds);
    const attempt = () => {
      const { keys } = this.jwks();
      const algorithms = [
        ...new Set(keys.map((key) => key.alg).filter((alg): alg is string => typeof alg === 'string')),
      ];
      return verifyAuthenticationToken(token, createLocalJWKSet({ keys }), {
        issuer: this.#options.issuer,
        audiences,
        algorithms,
        now: Math.floor(this.#now() / 1000),
        expiredGraceSeconds,
      });
    };
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof TokenRefused && error.reason === 'unknown-key' && (await this.reloadIfStale()))
        return attempt();
      throw error;
    }
  }
}
