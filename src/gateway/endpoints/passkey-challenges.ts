// A passkey ceremony's challenge where no login cookie holds it (the sign-in form, the account
// page): in a form field, sealed by the key ring and bound to what it is for (a sign-in's state,
// a session), as TOTP's enrolment is. It lives as long as the browser offers the ceremony.
import { CEREMONY_TIMEOUT_MS } from '../../accounts/passkeys.ts';
import type { GatewayContext } from '../context.ts';

const binding = (owner: readonly string[]) => ({ purpose: 'passkey-challenge', owner: [...owner] });

export function sealChallenge(ctx: GatewayContext, challenge: string, owner: readonly string[]): string {
  return ctx.keyring.seal(JSON.stringify({ challenge, expiresAt: Date.now() + CEREMONY_TIMEOUT_MS }), binding(owner));
}

/** The challenge sealed for `owner`; undefined when it is not one, is another's, or has expired. */
export function openChallenge(ctx: GatewayContext, sealed: string, owner: readonly string[]): string | undefined {
  try {
    const { challenge, expiresAt } = JSON.parse(ctx.keyring.openString(sealed, binding(owner))) as {
      challenge: string;
      expiresAt: number;
    };
    return Date.now() <= expiresAt ? challenge : undefined;
  } catch {
    return undefined;
  }
}

/** The browser's answer posted in a passkey form's `response` field; undefined when it is no JSON object. */
export function passkeyAnswer<T>(form: URLSearchParams): T | undefined {
  try {
    const parsed: unknown = JSON.parse(form.get('response') ?? '');
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}
