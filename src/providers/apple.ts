// Sign in with Apple is OpenID Connect with two twists, both kept here. The client secret is not a
// fixed string but an ES256 JWT the client signs with its team's key ("Creating a client secret",
// Apple developer documentation: header kid; iss = team id; sub = client id; aud = Apple's issuer;
// at most six months long — SignOnce makes a 5-minute one per token request). And the name of
// the user arrives once, on the first sign-in, as a `user` form field beside the code (not in the
// ID token), so it is unverified: it only fills name claims the ID token does not have.
import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';

const SECRET_LIFETIME_SECONDS = 300;

export interface AppleKey {
  readonly teamId: string;
  readonly keyId: string;
  readonly clientId: string;
  /** The issuer, `https://appleid.apple.com` (a local server's in tests). */
  readonly audience: string;
  /** PKCS #8 PEM of the EC P-256 key (the AuthKey_….p8 file). */
  readonly privateKey: string;
}

/** A function making a fresh client secret JWT each time it is called. */
export function appleClientSecret(key: AppleKey): () => Promise<string> {
  const privateKey = createPrivateKey(key.privateKey);
  return () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: key.keyId })
      .setIssuer(key.teamId)
      .setSubject(key.clientId)
      .setAudience(key.audience)
      .setIssuedAt()
      .setExpirationTime(`${SECRET_LIFETIME_SECONDS}s`)
      .sign(privateKey);
}

/** Name claims from the `user` field of Apple's first callback; nothing when absent or malformed. */
export function appleUserClaims(callback: URL): Record<string, string> {
  const field = callback.searchParams.get('user');
  if (!field || field.length > 4096) return {};
  let user: unknown;
  try {
    user = JSON.parse(field);
  } catch {
    return {};
  }
  const name = (user as { name?: unknown } | null)?.name as { firstName?: unknown; lastName?: unknown } | undefined;
  const part = (value: unknown) =>
    typeof value === 'string' && value.trim() !== '' && value.length <= 256 ? value.trim() : undefined;
  const given = part(name?.firstName);
  const family = part(name?.lastName);
  const full = [given, family].filter(Boolean).join(' ');
  return {
    ...(given ? { given_name: given } : {}),
    ...(family ? { family_name: family } : {}),
    ...(full ? { name: full } : {}),
  };
}
