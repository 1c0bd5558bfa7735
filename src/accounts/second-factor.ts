// Second factors of local accounts: TOTP (RFC 6238, through otpauth) and single-use recovery codes.
// The TOTP secret is sealed by the key ring in the store; recovery codes are kept only as keyed
// hashes. Each time step's code is accepted once (RFC 6238 section 5.2), and guesses are throttled
// per account as passwords are, with longer waits (throttle.ts; RFC 4226 section 7.3).
import { createHmac, randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { Store } from '../store/index.ts';
import { SECOND_FACTOR_RULE, SignInThrottle } from './throttle.ts';

/** What every authenticator app reads: RFC 6238's HMAC-SHA-1, 6 digits, 30-second steps. */
const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Codes of the step before and after are accepted too: a clock a little off, and time to type (RFC 6238 section 5.2). */
const WINDOW = 1;
/** 160 bits, the length RFC 4226 section 4 (R6) recommends for the shared secret. */
const SECRET_BYTES = 20;
const SECRET_PATTERN = /^[A-Z2-7]{32}$/;
const RECOVERY_CODE_COUNT = 10;
/** RFC 4648 base32 letters (no 0, 1, 8, 9 to mistake for O, I, B): 10 of them are 50 bits. */
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const RECOVERY_CODE_LENGTH = 10;
/** Longer input is no code, and is not read further. */
const INPUT_MAX = 64;
/** The throttle's key of its own per account: a space is in no provider id, so it meets no password form's. */
const THROTTLE_KEY = 'second factor';
/** The instance secret that keys the recovery codes' hashes. */
const RECOVERY_CODE_KEY = 'recovery-codes';

export type SecondFactorCheck =
  | { readonly ok: true; readonly method: 'otp' | 'recovery' }
  | { readonly ok: false; readonly reason: 'invalid' }
  | { readonly ok: false; readonly reason: 'throttled'; readonly retryAfterMs: number };

export type TotpConfirmation =
  | { readonly ok: true; readonly recoveryCodes: string[] }
  | { readonly ok: false; readonly problem: string };

/**
 * What typed input is: a TOTP code (exactly 6 ASCII digits) or a recovery code (10 base32 letters,
 * lower-case), once ASCII spaces and dashes are dropped; undefined for anything else. No Unicode
 * case or digit mapping: a full-width or Arabic-Indic digit is no digit here.
 */
export function typedCode(input: string): { kind: 'otp' | 'recovery'; value: string } | undefined {
  if (input.length > INPUT_MAX) return undefined;
  const compact = input.replace(/[ -]/g, '');
  if (/^[0-9]{6}$/.test(compact)) return { kind: 'otp', value: compact };
  if (/^[A-Za-z2-7]{10}$/.test(compact)) return { kind: 'recovery', value: compact.toLowerCase() };
  return undefined;
}

/** A new recovery code as shown to the user: `xxxx-xxxx-xx`. */
function newRecoveryCode(): string {
  const letters = Array.from({ length: RECOVERY_CODE_LENGTH }, () => RECOVERY_ALPHABET[randomInt(32)]).join('');
  return `${letters.slice(0, 4)}-${letters.slice(4, 8)}-${letters.slice(8)}`;
}

export class SecondFactors {
  readonly #store: Store;
  readonly #issuer: string;
  readonly #now: () => number;
  readonly #throttle: SignInThrottle;
  #recoveryKey: Promise<Buffer> | undefined;

  constructor(store: Store, options: { issuer: string; now?: () => number }) {
    this.#store = store;
    this.#issuer = options.issuer;
    this.#now = options.now ?? (() => Date.now());
    this.#throttle = new SignInThrottle(store, { now: this.#now, accountRule: SECOND_FACTOR_RULE });
  }

  /**
   * A new 160-bit secret (base32) for an authenticator app, and its `otpauth://totp/` key URI
   * (issuer, `label`, SHA1, 6 digits, 30 s). Nothing is stored until `confirmTotp`.
   */
  beginTotp(_accountId: string, label: string): { secret: string; uri: string } {
    const totp = new TOTP({
      ...TOTP_PARAMETERS,
      issuer: this.#issuer,
      label,
      secret: new Secret({ size: SECRET_BYTES }),
    });
    return { secret: totp.secret.base32, uri: totp.toString() };
  }

  /**
   * Turns TOTP on once `code` shows the app holds `secret` (from `beginTotp`): the secret replaces
   * any before it, with 10 new recovery codes, returned here once (the store keeps their hashes).
   */
  async confirmTotp(accountId: string, secret: string, code: string): Promise<TotpConfirmation> {
    if (!SECRET_PATTERN.test(secret))
      return { ok: false, problem: 'this set-up is not one SignOnce began: start again' };
    const typed = typedCode(code);
    if (typed?.kind !== 'otp') return { ok: false, problem: 'enter the 6-digit code your authenticator app shows' };
    const step = this.#stepOf(secret, typed.value);
    if (step === undefined)
      return {
        ok: false,
        problem:
          "this code is not right: check that your phone's clock is set automatically, and enter the code it shows now",
      };
    // The code that proved the secret is used: it cannot sign in as well.
    await this.#store.putTotpSecret(accountId, secret, step);
    return { ok: true, recoveryCodes: await this.#newRecoveryCodes(accountId) };
  }

  async status(accountId: string): Promise<{ totp: boolean; recoveryCodesLeft: number }> {
    return {
      totp: (await this.#store.getTotpSecret(accountId)) !== undefined,
      recoveryCodesLeft: await this.#store.countRecoveryCodes(accountId),
    };
  }

  /**
   * Checks a second factor typed from `address`: a TOTP code of the current step or one next to
   * it, each step's code accepted once, or an unused recovery code (case, spaces and dashes
   * ignored), used up. Throttled per account and per address; a success forgets the account's failures.
   */
  async verify(accountId: string, code: string, address: string): Promise<SecondFactorCheck> {
    const typed = typedCode(code);
    let method: 'otp' | 'recovery' | undefined;
    // Input that is no code is a failure like any wrong code: no cheaper way to probe.
    const outcome = await this.#throttle.attempt(THROTTLE_KEY, accountId, address, async () => {
      method = typed && (await this.#use(accountId, typed.kind, typed.value)) ? typed.kind : undefined;
      return method !== undefined;
    });
    if ('retryAfterMs' in outcome) return { ok: false, reason: 'throttled', retryAfterMs: outcome.retryAfterMs };
    return method ? { ok: true, method } : { ok: false, reason: 'invalid' };
  }

  /** Turns TOTP off: the secret and every recovery code are gone. */
  async remove(accountId: string): Promise<void> {
    await this.#store.deleteSecondFactors(accountId);
  }

  /** 10 new recovery codes replacing the old ones, returned once; none when TOTP is off (nothing to recover). */
  async regenerateRecoveryCodes(accountId: string): Promise<string[]> {
    if ((await this.#store.getTotpSecret(accountId)) === undefined) return [];
    return this.#newRecoveryCodes(accountId);
  }

  /** The time step `token` is the code of, within the window around now; undefined when none. */
  #stepOf(secret: string, token: string): number | undefined {
    const totp = new TOTP({ ...TOTP_PARAMETERS, secret: Secret.fromBase32(secret) });
    const timestamp = this.#now();
    const delta = totp.validate({ token, timestamp, window: WINDOW });
    return delta === null ? undefined : totp.counter({ timestamp }) + delta;
  }

  /** Uses up a code of the account: its TOTP step, or the recovery code. */
  async #use(accountId: string, kind: 'otp' | 'recovery', value: string): Promise<boolean> {
    if (kind === 'recovery') return this.#store.useRecoveryCode(accountId, await this.#recoveryHash(accountId, value));
    const secret = await this.#store.getTotpSecret(accountId);
    const step = secret === undefined ? undefined : this.#stepOf(secret, value);
    return step !== undefined && this.#store.useTotpStep(accountId, step);
  }

  async #newRecoveryCodes(accountId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const hashes = await Promise.all(codes.map((code) => this.#recoveryHash(accountId, typedCode(code)!.value)));
    await this.#store.replaceRecoveryCodes(accountId, hashes);
    return codes;
  }

  // Keyed (HMAC-SHA-256 under an instance secret) and bound to the account: a stolen database
  // yields no code, and 50 bits cannot be searched offline without the key.
  async #recoveryHash(accountId: string, normalised: string): Promise<string> {
    this.#recoveryKey ??= this.#store.instanceSecret(RECOVERY_CODE_KEY);
    return createHmac('sha256', await this.#recoveryKey)
      .update(JSON.stringify([accountId, normalised]))
      .digest('base64url');
  }
}
