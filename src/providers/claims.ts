// Claims as Easy Auth hands them to apps: the provider's own names, plus the WS-Federation names
// Easy Auth adds for the well-known ones, so apps that read either find them.
import type { Claim } from './types.ts';

const WS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';

/** Easy Auth's additional names for OIDC claims. */
export const MAPPED_CLAIMS: Readonly<Record<string, string>> = {
  sub: `${WS}/nameidentifier`,
  email: `${WS}/emailaddress`,
  given_name: `${WS}/givenname`,
  family_name: `${WS}/surname`,
  name: `${WS}/name`,
  roles: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
};

export const NAME_CLAIM_TYPE = `${WS}/name`;
export const ROLE_CLAIM_TYPE = MAPPED_CLAIMS.roles!;

/** Flattens a claims object into Easy Auth's list: arrays become one claim per value. */
export function toClaims(source: Readonly<Record<string, unknown>>): Claim[] {
  const claims: Claim[] = [];
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      const val = typeof item === 'string' ? item : JSON.stringify(item);
      claims.push({ typ: name, val });
      const mapped = MAPPED_CLAIMS[name];
      if (mapped) claims.push({ typ: mapped, val });
    }
  }
  return claims;
}

/** The display name of a user: e-mail, else preferred username, else name, else subject. */
export function principalName(source: Readonly<Record<string, unknown>>, subject: string): string {
  for (const key of ['email', 'preferred_username', 'name']) {
    if (typeof source[key] === 'string' && source[key]) return source[key];
  }
  return subject;
}
