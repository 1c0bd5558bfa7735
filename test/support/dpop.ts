// DPoP proofs (RFC 9449 section 4.2) as a client builds them, with any claim a test wants wrong.
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, type CryptoKey } from 'jose';

export interface ProofClaims {
  htm?: string;
  htu?: string;
  ath?: string;
  jti?: string;
  iat?: number;
}

/** A DPoP proof signed by `keys` (ES256), for `accessToken` unless `ath` is given. */
export async function dpopProof(
  keys: { privateKey: CryptoKey; publicKey: CryptoKey },
  accessToken: string,
  claims: ProofClaims & { typ?: string } = {},
): Promise<string> {
  const { typ = 'dpop+jwt', ...rest } = claims;
  const payload = {
    htm: 'GET',
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    ath: createHash('sha256').update(accessToken).digest('base64url'),
    ...rest,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ, jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey);
}
