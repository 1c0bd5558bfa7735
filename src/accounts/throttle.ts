// Slowing down password guessing (OWASP ASVS 2.2.1), per account and per client address, without
// letting anyone lock a real user out for long: after a few free failures each further failure
// doubles the wait before the next attempt, up to a cap; a day without failures forgets them.
// The wait per account is capped at a minute for passwords (an attacker cannot keep the real user
// out longer, and gets at most one guess a minute); per address at 15 minutes. Second factors cap
// it at 15 minutes too: only someone who has the password can guess codes, and a six-digit code is
// far easier to guess than a password (RFC 4226 section 7.3).
import { createHmac } from 'node:crypto';
import { KeyedMutex } from '../concurrency/keyed-mutex.ts';
import type { SignInFailures, Store } from '../store/index.ts';

export interface ThrottleRule {
  /** Failures that cost nothing. */
  readonly free: number;
  /** The longest wait. */
  readonly capMs: number;
}

export const ACCOUNT_RULE: ThrottleRule = { free: 5, capMs: 60_000 };
export const ADDRESS_RULE: ThrottleRule = { free: 20, capMs: 15 * 60_000 };
export const SECOND_FACTOR_RULE: ThrottleRule = { free: 5, capMs: 15 * 60_000 };
/** Failures older than this are forgotten (and may be purged from the store). */
export const FORGET_AFTER_MS = 24 * 3_600_000;

/** How long until the next attempt is allowed (0: now), after `recorded` failures. */
export function waitMs(recorded: SignInFailures | undefined, now: number, rule: ThrottleRule): number {
  if (!recorded || now - recorded.lastFailureAt >= FORGET_AFTER_MS) return 0;
  const over = recorded.failures - rule.free;
  if (over < 0) return 0;
  const delay = Math.min(1000 * 2 ** Math.min(over, 30), rule.capMs);
  // Never longer than the cap, even for a failure stamped ahead of this clock (another instance's).
  return Math.min(rule.capMs, Math.max(0, recorded.lastFailureAt + delay - now));
}

const THROTTLE_SECRET = 'throttle-keys';

/** The failures of one sign-in form, kept in the store (so every instance of a cluster counts them). */
export class SignInThrottle {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #accountRule: ThrottleRule;
  readonly #attempts = new KeyedMutex();
  #secret: Promise<Buffer> | undefined;

  constructor(store: Store, options: { now?: () => number; accountRule?: ThrottleRule } = {}) {
    this.#store = store;
    this.#now = options.now ?? (() => Date.now());
    this.#accountRule = options.accountRule ?? ACCOUNT_RULE;
  }

  /**
   * Runs `check` (true: the credentials are right) unless `username` must wait before being
   * tried from `address`; records the outcome. Attempts at one username run one at a time in
   * this process, so a burst of parallel guesses is checked against the failures of the ones
   * before it (across instances, each instance's burst is). The wait in ms, or 0 after the check.
   */
  async attempt(
    provider: string,
    username: string,
    address: string,
    check: () => Promise<boolean>,
  ): Promise<{ retryAfterMs: number } | { ok: boolean }> {
    const [account, from] = await this.#keys(provider, username, address);
    return this.#attempts.run(account, async () => {
      const now = this.#now();
      const retryAfterMs = Math.max(
        waitMs(await this.#store.getSignInFailures(account), now, this.#accountRule),
        waitMs(await this.#store.getSignInFailures(from), now, ADDRESS_RULE),
      );
      if (retryAfterMs > 0) return { retryAfterMs };
      const ok = await check();
      // A correct password forgets the account's failures (not the address's).
      if (ok) await this.#store.clearSignInFailures(account);
      else for (const key of [account, from]) await this.#store.recordSignInFailure(key);
      return { ok };
    });
  }

  // Keyed hashes: the store holds no usernames or addresses for this.
  async #keys(provider: string, username: string, address: string): Promise<[string, string]> {
    this.#secret ??= this.#store.instanceSecret(THROTTLE_SECRET);
    const secret = await this.#secret;
    const key = (value: unknown[]) => createHmac('sha256', secret).update(JSON.stringify(value)).digest('base64url');
    return [key(['account', provider, username]), key(['address', address])];
  }
}
