// Identity tokens minted by someone else (`externalIssuers`: a mail add-in's identity token, a
// partner's JWT), verified for real and matched to a local account by a keyed hash of (issuer,
// subject): the raw subject is never stored. Verification follows RFC 8725 (JWT BCP): the
// issuer's own keys only (section 3.1: an asymmetric allow-list, never `none` or an HMAC), `iss`
// and `aud` checked (sections 3.8, 3.9), `exp` required.
import { CodedError } from '../errors/index.ts';
import { createHmac } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWSHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { ExternalIssuerConfig } from '../config/index.ts';

import { FORBIDDEN_HEADERS } from '../crypto/jws.ts';

const CLOCK_TOLERANCE_SECONDS = 60;
const FETCH_TIMEOUT_MS = 10_000;

/** Why a token was refused, in words for the caller (never the token itself). */
export class ExternalTokenRefused extends CodedError {
  static readonly code = 'ERR_EXTERNAL_TOKEN_REFUSED';
  readonly code = ExternalTokenRefused.code;
}

/** The issuer's keys could not be had (unreachable, or its metadata is wrong): nothing is said of the token. */
export class IssuerUnavailable extends CodedError {
  static readonly code = 'ERR_ISSUER_UNAVAILABLE';
  readonly code = IssuerUnavailable.code;
  /** The configured issuer's id (`externalIssuers[].id`). */
  readonly issuer: string;
  constructor(issuer: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.issuer = issuer;
  }
}

/**
 * The key identities are stored under: HMAC-SHA-256 under SignOnce's secret of (issuer, subject).
 * Stable for one user of one issuer; a stolen database yields no subject, nor a way to test one
 * without the secret.
 */
export function externalSubjectKey(secret: Buffer, issuer: string, subject: string): string {
  return createHmac('sha256', secret)
    .update(JSON.stringify([issuer, subject]))
    .digest('base64url');
}

/** The subject of verified claims: the configured claim, a non-empty string of at most 1,024 characters. */
export function subjectOf(claims: JWTPayload, claim: string): string {
  const value = claims[claim];
  if (typeof value !== 'string' || value === '' || value.length > 1024)
    throw new ExternalTokenRefused(`the "${claim}" claim is missing or not a string`);
  return value;
}

/** What a JWT minted elsewhere must be: whose (`id` names it in errors), for whom, signed how. */
export interface IssuerRule {
  readonly id: string;
  readonly issuer: string;
  /** Accepted when `aud` names any of them. */
  readonly audience: string | readonly string[];
  readonly algorithms: readonly string[];
}

/**
 * The claims and header of `token` verified against `keys` as `rule` demands: throws
 * ExternalTokenRefused, or IssuerUnavailable when the keys cannot be had. `exp` is required;
 * `nbf` and `iat` may be at most 60 s ahead (a token from the future is not one the issuer made
 * yet, RFC 7519 sections 4.1.5 and 4.1.6).
 */
export async function verifyExternalToken(
  token: string,
  keys: JWTVerifyGetKey,
  rule: IssuerRule,
): Promise<{ payload: JWTPayload; header: JWSHeaderParameters }> {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new ExternalTokenRefused('not a signed JWT');
  }
  const forbidden = FORBIDDEN_HEADERS.find((name) => name in header);
  if (forbidden) throw new ExternalTokenRefused(`the "${forbidden}" header is not accepted`);
  if (!rule.algorithms.includes(String(header.alg)))
    throw new ExternalTokenRefused(`"${String(header.alg)}" is not an accepted algorithm`);
  let verified;
  try {
    verified = await jwtVerify(token, keys, {
      issuer: rule.issuer,
      audience: typeof rule.audience === 'string' ? rule.audience : [...rule.audience],
      algorithms: [...rule.algorithms],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    });
  } catch (error) {
    if (error instanceof IssuerUnavailable) throw error;
    if (
      error instanceof errors.JWKSTimeout ||
      error instanceof errors.JWKSInvalid ||
      !(error instanceof errors.JOSEError)
    ) {
      throw new IssuerUnavailable(rule.id, `the keys of ${rule.id} could not be fetched: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (error instanceof errors.JWKSNoMatchingKey)
      throw new ExternalTokenRefused('signed by a key the issuer does not publish');
    if (error instanceof errors.JWSSignatureVerificationFailed)
      throw new ExternalTokenRefused('the signature does not verify');
    if (error instanceof errors.JWTExpired) throw new ExternalTokenRefused('expired');
    if (error instanceof errors.JWTClaimValidationFailed)
      throw new ExternalTokenRefused(`the "${error.claim}" claim is not accepted (${error.reason})`);
    throw new ExternalTokenRefused(error.message);
  }
  const { payload, protectedHeader } = verified;
  // jose checks `iat` only against a maximum age.
  if (payload.iat !== undefined && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS)
    throw new ExternalTokenRefused('issued in the future (the "iat" claim)');
  return { payload, header: protectedHeader };
}

/** An issuer's keys, fetched from `jwksUrl` or from the `jwks_uri` its metadata names; refetched for an unknown `kid` at most every 30 s (jose). */
export function issuerKeys(issuer: ExternalIssuerConfig): JWTVerifyGetKey {
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const load = async (): Promise<JWTVerifyGetKey> => {
    if (issuer.jwksUrl) return createRemoteJWKSet(new URL(issuer.jwksUrl), { timeoutDuration: FETCH_TIMEOUT_MS });
    const response = await fetch(issuer.metadataUrl!, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    const metadata = response.ok ? ((await response.json()) as { issuer?: unknown; jwks_uri?: unknown }) : {};
    // RFC 8414 section 3.3: the metadata must be the issuer's own.
    if (metadata.issuer !== issuer.issuer || typeof metadata.jwks_uri !== 'string') {
      throw new IssuerUnavailable(
        issuer.id,
        `the metadata at ${issuer.metadataUrl} is not ${issuer.issuer}'s (status ${response.status}, issuer ${JSON.stringify(metadata.issuer)})`,
      );
    }
    return createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: FETCH_TIMEOUT_MS });
  };
  return async (header, token) => {
    // A failure to load is retried by the next token rather than remembered.
    keys ??= load().catch((error: unknown) => {
      keys = undefined;
      throw error instanceof IssuerUnavailable
        ? error
        : new IssuerUnavailable(
            issuer.id,
            `the metadata of ${issuer.id} could not be fetched: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
    });
    return (await keys)(header, token);
  };
}
