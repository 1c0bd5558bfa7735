// Whether an earlier authentication (the browser's single sign-on session) may answer an OpenID
// authorization request, or the user must prove themselves to a provider again: OpenID Connect
// Core 1.0 section 3.1.2.1, `prompt=login` and `max_age`.

export interface LoginRequirements {
  /** The client asked for `prompt=login`. */
  readonly promptLogin: boolean;
  /** The request's `max_age`, in seconds. */
  readonly maxAge: number | undefined;
}

/**
 * Whether an authentication at `authTimeMs` satisfies the request at `nowMs`: never for
 * prompt=login or max_age=0 (its equivalent, Core 1.0 section 3.1.2.1); else when no more than
 * max_age seconds have passed, counted in whole seconds as `auth_time` is (and as oidc-provider
 * counts it).
 */
export function authenticationSatisfies(
  authTimeMs: number,
  { promptLogin, maxAge }: LoginRequirements,
  nowMs: number,
): boolean {
  if (promptLogin || maxAge === 0) return false;
  return maxAge === undefined || Math.floor(nowMs / 1000) - Math.floor(authTimeMs / 1000) <= maxAge;
}

/** The requirements of an authorization request's parameters (oidc-provider has checked their syntax). */
export function loginRequirements(params: Readonly<Record<string, unknown>>): LoginRequirements {
  const maxAge = params.max_age === undefined ? undefined : Number(params.max_age);
  return {
    promptLogin: String(params.prompt ?? '')
      .split(' ')
      .includes('login'),
    // A value that is not a whole number of seconds asks for the strictest reading.
    maxAge: maxAge === undefined || (Number.isSafeInteger(maxAge) && maxAge >= 0) ? maxAge : 0,
  };
}
