// The keys that sign authentication tokens. Private halves live in the store, sealed; the public
// halves are published as a JWK Set (RFC 7517 section 5). The newest key that is not retired signs;
// a retired key stays published until every token it signed has expired.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly publicJwk: Readonly<Record<string, unknown>>;
  readonly privateJwk: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  /** When it stopped signing; it stays published until tokens it signed have expired. */
  readonly retiredAt?: number;
}

export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** A new key pair for `alg`; its kid is the public key's JWK thumbprint (RFC 7638). */
export async function generateSigningKey(alg: SigningAlgorithm): Promise<Omit<SigningKey, 'createdAt' | 'retiredAt'>> {
  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg },
  };
}

/** The key that signs now: the newest not retired (ties by kid, so every instance picks the same). */
export function currentSigningKey(keys: readonly SigningKey[]): SigningKey | undefined {
  return keys
    .filter((key) => key.retiredAt === undefined)
    .sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? -1 : 1))[0];
}

/**
 * The keys whose tokens may still be presented: every key not retired, and retired ones until
 * `tokenValidityMs` (the longest a token stays usable) after their retirement.
 */
export function publishedSigningKeys(keys: readonly SigningKey[], now: number, tokenValidityMs: number): SigningKey[] {
  return keys.filter((key) => key.retiredAt === undefined || key.retiredAt + tokenValidityMs > now);
}

/** The JWK Set of `keys`: public halves only. */
export function jwks(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => ({ ...key.publicJwk }) as JWK) };
}
