// Session cookies: an opaque sealed value (not a readable token) holding the session's bearer
// secret, bound to the app host it was issued for, so a cookie copied to another host opens there
// as nothing. Attributes per RFC 6265bis: HttpOnly, SameSite=Lax, Secure on https, host-only.
import type { Keyring } from '../crypto/keyring.ts';

const binding = (host: string) => ({ purpose: 'session-cookie', owner: [host.toLowerCase()] });

export function sealSessionCookie(keyring: Keyring, secret: string, host: string): string {
  return keyring.seal(secret, binding(host));
}

/** The session secret in a cookie value, or undefined when it is not one this host issued. */
export function openSessionCookie(keyring: Keyring, value: string, host: string): string | undefined {
  try {
    return keyring.openString(value, binding(host));
  } catch {
    return undefined;
  }
}

export interface CookieOptions {
  readonly secure: boolean;
  readonly maxAgeSeconds?: number;
  readonly path?: string;
}

/** A Set-Cookie header value; a max age of 0 deletes the cookie. */
export function setCookieHeader(name: string, value: string, options: CookieOptions): string {
  const parts = [`${name}=${value}`, `Path=${options.path ?? '/'}`, 'HttpOnly', 'SameSite=Lax'];
  if (options.maxAgeSeconds !== undefined) parts.push(`Max-Age=${options.maxAgeSeconds}`);
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

/** The value of cookie `name` in a Cookie header (the first one, as browsers send most specific first). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const index = pair.indexOf('=');
    if (index !== -1 && pair.slice(0, index).trim() === name) return pair.slice(index + 1).trim();
  }
  return undefined;
}
