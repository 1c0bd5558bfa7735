// What a sign-in must have proved for a rule with `require` (README, "Access rules": step-up):
// a second factor (`mfa`) and/or a recent sign-in (`maxAge`). Pure: the proof is the session's
// `amr` (RFC 8176) and the time it was signed in; the caller sends a session that falls short to
// sign in again (RFC 9470: the challenge `insufficient_user_authentication` for API callers).

/** What an allowing rule requires of the sign-in besides who it is. */
export interface SignInRequirement {
  readonly mfa: boolean;
  /** The sign-in is at most this old (ms). */
  readonly maxAgeMs?: number | undefined;
}

/** What a sign-in proved: its authentication methods and context class, and when. */
export interface SignInProof {
  /** RFC 8176 `amr` values. */
  readonly amr: readonly string[];
  /** The provider's `acr`, when it asserted exactly one. */
  readonly acr?: string | undefined;
  /** The `acr` values that mean a second factor at the provider that signed in (`providers[].mfaAcrValues`). */
  readonly mfaAcrValues?: readonly string[] | undefined;
  readonly authTime: number;
}

// RFC 8176 section 2's methods by the factor they are (NIST SP 800-63B 5.1: something you know,
// have, are); `mfa` says several were used. Values outside these name no factor.
const FACTORS: Readonly<Record<string, 'know' | 'have' | 'are'>> = {
  pwd: 'know',
  pin: 'know',
  kba: 'know',
  otp: 'have',
  hwk: 'have',
  swk: 'have',
  sc: 'have',
  sms: 'have',
  tel: 'have',
  pop: 'have',
  fpt: 'are',
  face: 'are',
  iris: 'are',
  retina: 'are',
  vbm: 'are',
};

/** The `amr` values among claims as apps receive them (one claim per method). */
export const amrOf = (claims: ReadonlyArray<{ readonly typ: string; readonly val: string }>) =>
  claims.filter((c) => c.typ === 'amr').map((c) => c.val);

/**
 * The `acr` among claims: the value of the one `acr` claim, else undefined (an ID token's `acr` is
 * one string, Core 1.0 section 2; several are no answer).
 */
export function acrOf(claims: ReadonlyArray<{ readonly typ: string; readonly val: string }>): string | undefined {
  const acr = claims.filter((c) => c.typ === 'acr');
  return acr.length === 1 ? acr[0]!.val : undefined;
}

/**
 * Whether a sign-in was multi-factor: its `acr` is one the provider's configuration says means a
 * second factor (compared exactly), or its `amr` has `mfa` or methods of two kinds of factor.
 */
export function provesMultiFactor({ amr, acr, mfaAcrValues = [] }: Omit<SignInProof, 'authTime'>): boolean {
  if (acr !== undefined && mfaAcrValues.includes(acr)) return true;
  if (amr.includes('mfa')) return true;
  return new Set(amr.flatMap((method) => (Object.hasOwn(FACTORS, method) ? [FACTORS[method]] : []))).size >= 2;
}

/** What a sign-in lacks: the requirement it falls short of, and why in plain words. */
export interface UnmetRequirement extends SignInRequirement {
  readonly reason: string;
}

/**
 * What `proof` lacks of `requirement` at `now`, in plain words, or undefined when it meets it. A
 * sign-in time in the future (another clock) counts as now; one that is not a number meets no age.
 */
export function unmetRequirement(
  requirement: SignInRequirement | undefined,
  proof: SignInProof,
  now: number,
): UnmetRequirement | undefined {
  if (!requirement) return undefined;
  const missingFactor = requirement.mfa && !provesMultiFactor(proof);
  const tooOld =
    requirement.maxAgeMs !== undefined &&
    !(Number.isFinite(proof.authTime) && now - Math.min(proof.authTime, now) <= requirement.maxAgeMs);
  if (!missingFactor && !tooOld) return undefined;
  const reasons = [
    ...(missingFactor ? ['a sign-in with a second factor'] : []),
    ...(tooOld ? [`a sign-in within the last ${Math.round(requirement.maxAgeMs! / 60_000)} min`] : []),
  ];
  return { mfa: requirement.mfa, maxAgeMs: requirement.maxAgeMs, reason: `this needs ${reasons.join(' and ')}` };
}
