// Where a client keeps its sign-in: any TokenCache. Values are opaque strings to the cache (the
// client's own JSON); the cache only keeps them, and may make changes exclusive across the
// processes that share it (EncryptedFileCache does, for several apps on one device).

export interface TokenCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Runs `change` while no other process sharing this cache runs one (a cross-process lock).
   * Absent: the client only keeps one change at a time within its own process.
   */
  exclusive?<T>(change: () => Promise<T>): Promise<T>;
}

/** Kept in this process only: gone when it exits. */
export class MemoryCache implements TokenCache {
  readonly #values = new Map<string, string>();

  async get(key: string): Promise<string | undefined> {
    return this.#values.get(key);
  }

  async set(key: string, value: string): Promise<void> {
    this.#values.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key);
  }
}

/** The part of the Web Storage API a cache needs (localStorage, sessionStorage). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * In the browser's localStorage (shared by the tabs of one origin, kept across restarts) or
 * sessionStorage (one tab). Any script running on the page can read it: an XSS flaw hands the
 * attacker the authentication token until it expires. Prefer MemoryCache (signing in again per
 * page load) where that risk matters more than convenience, and keep a strict Content-Security-Policy.
 */
export class BrowserStorageCache implements TokenCache {
  readonly #storage: StorageLike;
  readonly #prefix: string;

  constructor(
    storage: StorageLike = (globalThis as { localStorage?: StorageLike }).localStorage!,
    prefix = 'signonce:',
  ) {
    this.#storage = storage;
    this.#prefix = prefix;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#storage.getItem(this.#prefix + key) ?? undefined;
  }

  async set(key: string, value: string): Promise<void> {
    this.#storage.setItem(this.#prefix + key, value);
  }

  async delete(key: string): Promise<void> {
    this.#storage.removeItem(this.#prefix + key);
  }
}
