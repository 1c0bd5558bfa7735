// Pairwise user ids (the idea of OpenID Connect Core 1.0 section 8.1): one id per (account, app),
// stable for that app, unrelated between apps, so two apps cannot join their users by id. HMAC-SHA-256
// under an instance secret kept in the store.
import { createHmac } from 'node:crypto';

export function pairwiseId(secret: Buffer, accountId: string, appId: string): string {
  // Lengths first: ("ab", "c") and ("a", "bc") must not collide.
  return createHmac('sha256', secret)
    .update(`${accountId.length}:${accountId}:${appId.length}:${appId}`)
    .digest('base64url');
}
