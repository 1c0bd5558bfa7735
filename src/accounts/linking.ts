// Which account an identity belongs to, when it is not linked yet: linking by e-mail is opt-in
// (`accounts.linkByVerifiedEmail`), because an e-mail a provider does not vouch for, or one a
// provider lets anyone claim, is how accounts get taken over. These rules are pure functions.
import { createHmac } from 'node:crypto';
import type { Claim } from '../providers/index.ts';
import type { Identity } from '../store/index.ts';

/**
 * The e-mail address the provider vouches for: the one `email` claim, when the one
 * `email_verified` claim is true (OpenID Connect Core 1.0 section 5.1), or when there is none and
 * the provider is `trusted` to assert only verified addresses (`providers[].trustEmail`). Anything
 * else (not verified, several values, not an address) is no e-mail.
 */
export function verifiedEmail(claims: readonly Claim[], trusted = false): string | undefined {
  const values = (typ: string) => claims.filter((claim) => claim.typ === typ).map((claim) => claim.val);
  const emails = values('email');
  const verified = values('email_verified');
  const vouched = verified.length === 1 ? verified[0] === 'true' : verified.length === 0 && trusted;
  if (emails.length !== 1 || !vouched) return undefined;
  const email = emails[0]!.trim();
  return /^[^\s@]+@[^\s@]+$/.test(email) ? email : undefined;
}

/**
 * What is stored to find identities by e-mail: HMAC-SHA-256 under SignOnce's secret of the
 * address in Unicode NFC, lower-cased, so a stolen database yields no address list.
 */
export function emailKey(secret: Buffer, email: string): string {
  return createHmac('sha256', secret).update(email.normalize('NFC').toLowerCase()).digest('base64url');
}

/**
 * The account a new identity joins by its verified e-mail: the one account that identities of
 * allow-listed providers with the same key belong to. None when there is none, or several (two
 * accounts claim the address: never guess).
 */
export function accountByEmail(candidates: readonly Identity[], allowList: readonly string[]): string | undefined {
  const accounts = new Set(
    candidates.filter((identity) => allowList.includes(identity.provider)).map((identity) => identity.accountId),
  );
  return accounts.size === 1 ? [...accounts][0] : undefined;
}
