// Whether an earlier authentication (the browser's single sign-on session) may answer an OpenID
// authorization request, or the user must prove themselves to a provider again: OpenID Connect
// Core 1.0 section 3.1.2.1, `prompt=login`, `max_age` and `acr_values`.

/**
 * The `acr` of a sign-in that proved a second factor (src/access/step-up.ts): the OpenID PAPE
 * multi-factor policy URI, which relying parties already ask for in `acr_values`. SignOnce's
 * ID tokens carry it only then; a sign-in that proved one factor has no `acr`.
 */
export const MULTI_FACTOR_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

export interface LoginRequirements {
  /** The client asked for `prompt=login`. */
  readonly promptLogin: boolean;
  /** The request's `max_age`, in seconds. */
  readonly maxAge: number | undefined;
  /** The client's `acr_values` name MULTI_FACTOR_ACR. */
  readonly multiFactor: boolean;
}

/** An earlier authentication: when, and whether it proved a second factor. */
export interface EarlierAuthentication {
  readonly authTimeMs: number;
  readonly multiFactor: boolean;
}

/**
 * Whether an authentication satisfies the request at `nowMs`: never for prompt=login or max_age=0
 * (its equivalent, Core 1.0 section 3.1.2.1); else when no more than max_age seconds have passed,
 * counted in whole seconds as `auth_time` is (and as oidc-provider counts it), and when it proved
 * a second factor if the client asked for one. SignOnce treats `acr_values` as a demand, not a
 * preference (Core makes them voluntary): a client that names the multi-factor class means it.
 */
export function authenticationSatisfies(
  { authTimeMs, multiFactor }: EarlierAuthentication,
  requirements: LoginRequirements,
  nowMs: number,
): boolean {
  const { promptLogin, maxAge } = requirements;
  if (promptLogin || maxAge === 0) return false;
  if (requirements.multiFactor && !multiFactor) return false;
  return maxAge === undefined || Math.floor(nowMs / 1000) - Math.floor(authTimeMs / 1000) <= maxAge;
}

/** The requirements of an authorization request's parameters (oidc-provider has checked their syntax). */
export function loginRequirements(params: Readonly<Record<string, unknown>>): LoginRequirements {
  const maxAge = params.max_age === undefined ? undefined : Number(params.max_age);
  const words = (value: unknown) => (typeof value === 'string' ? value.split(' ') : []);
  return {
    promptLogin: words(params.prompt).includes('login'),
    // A value that is not a whole number of seconds asks for the strictest reading.
    maxAge: maxAge === undefined || (Number.isSafeInteger(maxAge) && maxAge >= 0) ? maxAge : 0,
    multiFactor: words(params.acr_values).includes(MULTI_FACTOR_ACR),
  };
}
