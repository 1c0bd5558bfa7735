// DPoP (RFC 9449) where SignOnce is the resource server of its own OpenID Provider's access tokens
// (GET /.auth/token on the auth host). oidc-provider binds an access token to the client's key
// when the token request carries a DPoP proof (cnf.jkt, its `jkt`); such a token is worth nothing
// without a fresh proof of that key, made for this very request.
import { createHash } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, jwtVerify, type JWK } from 'jose';

/** The proof algorithms accepted, here and by oidc-provider (its dpop_signing_alg_values_supported). */
export const DPOP_ALGORITHMS = ['ES256', 'Ed25519', 'EdDSA'] as const;
/** How far a proof's `iat` may be from now (RFC 9449 section 11.1), as oidc-provider allows. */
export const DPOP_WINDOW_SECONDS = 300;

export interface PresentedToken {
  readonly scheme: 'Bearer' | 'DPoP';
  readonly token: string;
}

/** The access token of an Authorization header: `Bearer` (RFC 6750 section 2.1) or `DPoP` (RFC 9449 section 7.1). */
export function presentedToken(authorization: string | undefined): PresentedToken | undefined {
  const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization ?? '');
  if (!match) return undefined;
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
}

export interface ProofContext {
  /** The request's method and URL (without query: RFC 9449 section 4.3 items 8 and 9). */
  readonly method: string;
  readonly url: string;
  readonly accessToken: string;
  /** The JWK SHA-256 thumbprint (RFC 7638) the access token is bound to (`cnf.jkt`). */
  readonly jkt: string;
  readonly nowSeconds: number;
}

export type ProofVerdict =
  | { readonly ok: true; readonly jti: string; readonly iat: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Whether `proof` (the DPoP header, all of it) proves possession of the token's key for this
 * request, by RFC 9449 section 4.3 and section 7.1: one JWT, `typ` dpop+jwt, an asymmetric
 * algorithm, signed by the public key in its `jwk` header (never a private one), that key the
 * token's `jkt`; `htm` and `htu` this request's; `ath` the token's hash; `iat` within the window;
 * a `jti`, whose single use the caller checks (section 11.1).
 */
export async function checkDpopProof(
  proof: string | string[] | undefined,
  context: ProofContext,
): Promise<ProofVerdict> {
  const refused = (reason: string): ProofVerdict => ({ ok: false, reason });
  // Node joins repeated headers with ", ": a proof (a compact JWS) has no comma.
  if (typeof proof !== 'string' || proof === '') return refused('no DPoP proof');
  if (proof.includes(',')) return refused('more than one DPoP proof');
  let verified;
  try {
    verified = await jwtVerify(proof, EmbeddedJWK, { algorithms: [...DPOP_ALGORITHMS], typ: 'dpop+jwt' });
  } catch {
    return refused('the proof is not a DPoP proof signed by the key in its header');
  }
  const { payload, protectedHeader } = verified;
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256)
    return refused('the proof has no jti');
  if (typeof payload.iat !== 'number' || Math.abs(context.nowSeconds - payload.iat) > DPOP_WINDOW_SECONDS)
    return refused('the proof is not recent (iat)');
  if (payload.htm !== context.method) return refused('the proof is for another method (htm)');
  if (typeof payload.htu !== 'string' || !sameResource(payload.htu, context.url))
    return refused('the proof is for another URL (htu)');
  if (payload.ath !== createHash('sha256').update(context.accessToken).digest('base64url'))
    return refused('the proof is for another access token (ath)');
  if ((await calculateJwkThumbprint(protectedHeader.jwk as JWK, 'sha256')) !== context.jkt)
    return refused('the proof is signed by another key than the token is bound to (jkt)');
  return { ok: true, jti: payload.jti, iat: payload.iat };
}

/** Whether two URLs are equal without query and fragment, once normalised (RFC 9449 section 4.3 item 9). */
function sameResource(htu: string, url: string): boolean {
  const [actual, expected] = [URL.parse(htu), URL.parse(url)];
  if (!actual || !expected) return false;
  for (const parsed of [actual, expected]) {
    parsed.search = '';
    parsed.hash = '';
  }
  return actual.href === expected.href;
}
