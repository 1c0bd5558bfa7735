// Recently resolved session cookies, per instance. Resolving one costs an AES-GCM open, two store
// reads and a token open: most of the gateway's own time per proxied request (bench/gateway.ts).
// An entry lives at most `ttlMs` (`session.cacheTtl`) and never past its session's end. Sign-outs
// and token changes evict it: on this instance at once, on the others as soon as the store tells
// them (PostgreSQL: within milliseconds; see Store.watch), and at the latest after `ttlMs`. While
// the store cannot tell (`deafen`), nothing is kept. Only signed-in answers are kept, so forged
// cookies cannot fill the cache, and the number of entries is bounded.

interface Entry<V> {
  readonly value: V;
  readonly until: number;
  readonly sessionRef: string;
  readonly accountId: string;
}

export interface CacheOptions {
  /** How long an entry may be used; 0 turns the cache off. */
  readonly ttlMs: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class SignedInCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  #deaf = false;
  // Counts evictions: an answer read before one of them may predate the change, so it is not kept.
  #generation = 0;

  constructor({ ttlMs, maxEntries = 10_000, now = () => Date.now() }: CacheOptions) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  // The cookie value is sealed for one host; the host is part of the key all the same, so an
  // entry can only ever answer for the host that resolved it.
  static #key = (host: string, cookie: string) => `${host}\n${cookie}`;

  get(host: string, cookie: string): V | undefined {
    const key = SignedInCache.#key(host, cookie);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until > this.#now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Pass it to `set` with an answer read after this call. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Keeps an answer read since `generation` was read, unless something was evicted meanwhile
   * (the answer might have been read just before the change it would then outlive).
   */
  set(
    host: string,
    cookie: string,
    value: V,
    session: { ref: string; accountId: string; expiresAt: number },
    generation: number,
  ): void {
    if (this.#ttlMs <= 0 || this.#deaf || generation !== this.#generation) return;
    const key = SignedInCache.#key(host, cookie);
    this.#entries.delete(key);
    // Full: the entry inserted longest ago goes (hot entries are re-inserted every TTL).
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    const until = Math.min(this.#now() + this.#ttlMs, session.expiresAt);
    this.#entries.set(key, { value, until, sessionRef: session.ref, accountId: session.accountId });
  }

  /** After a logout: the session's entries, on every host. */
  forgetSession(ref: string): void {
    this.#generation++;
    for (const [key, entry] of this.#entries) if (entry.sessionRef === ref) this.#entries.delete(key);
  }

  /** After the account's tokens or sessions changed. */
  forgetAccount(accountId: string): void {
    this.#generation++;
    for (const [key, entry] of this.#entries) if (entry.accountId === accountId) this.#entries.delete(key);
  }

  /** Changes can no longer be heard: everything is forgotten, and nothing kept until `hear`. */
  deafen(): void {
    this.#deaf = true;
    this.#generation++;
    this.#entries.clear();
  }

  /** Changes are heard again; what was missed meanwhile cannot be in the cache (it was kept empty). */
  hear(): void {
    this.#deaf = false;
  }

  get size(): number {
    return this.#entries.size;
  }
}
