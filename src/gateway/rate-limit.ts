// Rate limits per client address or account, per instance: token buckets (`limit` tokens, refilled
// steadily over `window`), so a client may burst up to `limit` and then gets `limit` per window.
// Written here rather than taken from @fastify/rate-limit: SignOnce routes its /.auth/ endpoints
// itself (one catch-all route), and the buckets must be bounded in number however many addresses
// an attacker uses (the least recently used bucket goes: that client starts afresh).

export interface RateRule {
  /** Requests per window; 0: no limit. */
  readonly limit: number;
  readonly windowMs: number;
}

export interface Bucket {
  readonly tokens: number;
  readonly at: number;
}

/**
 * One request against `bucket` at `now`: the bucket after it, and how long to wait when refused
 * (0 when allowed). A missing bucket is full.
 */
export function takeToken(
  bucket: Bucket | undefined,
  now: number,
  rule: RateRule,
): { bucket: Bucket; retryAfterMs: number } {
  const perMs = rule.limit / rule.windowMs;
  // A clock that went back refills nothing (and never drains).
  const elapsed = Math.max(0, now - (bucket?.at ?? now));
  const tokens = Math.min(rule.limit, (bucket?.tokens ?? rule.limit) + elapsed * perMs);
  if (tokens >= 1) return { bucket: { tokens: tokens - 1, at: now }, retryAfterMs: 0 };
  return { bucket: { tokens, at: now }, retryAfterMs: Math.ceil((1 - tokens) / perMs) };
}

export class RateLimiter {
  readonly #rule: RateRule;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(rule: RateRule, options: { maxKeys?: number; now?: () => number } = {}) {
    this.#rule = rule;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? (() => Date.now());
  }

  /** 0 when `key` may go ahead now; otherwise how many milliseconds until it may. */
  take(key: string): number {
    if (this.#rule.limit <= 0) return 0;
    const { bucket, retryAfterMs } = takeToken(this.#buckets.get(key), this.#now(), this.#rule);
    // Re-inserted, so the Map's order is least recently used first.
    this.#buckets.delete(key);
    if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    this.#buckets.set(key, bucket);
    return retryAfterMs;
  }

  get size(): number {
    return this.#buckets.size;
  }
}
