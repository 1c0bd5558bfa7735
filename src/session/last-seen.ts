// When each session was last used ("last seen" on the account page), and session.idleTimeout,
// without a store write per request: each instance remembers its own latest use of a session and
// tells the store at most once per session per minute (TOUCH_INTERVAL_MS), in the background. The
// store's lastSeenAt may therefore lag a session's real last use by up to a minute, which is why an
// idle timeout is at least 5 minutes (config/schema.ts) and every instance judges a session by the
// later of the store's lastSeenAt and its own latest use: a session in steady use on any instance is
// never judged idle.
import type { Session, Store } from '../store/index.ts';

/** At most one `touchSession` per session per this long, per instance. */
export const TOUCH_INTERVAL_MS = 60_000;

/**
 * Whether a session is idle at `now`: unused for longer than `idleTimeoutMs` (0: never idle) since
 * the later of `lastSeenAt` (the store's, from any instance) and `usedHereAt` (this instance's own
 * latest use, not yet in the store). Exactly the timeout is not longer; a last use after `now`
 * (another instance's clock ahead) is a recent use.
 */
export function isIdle(at: {
  now: number;
  lastSeenAt: number;
  usedHereAt: number | undefined;
  idleTimeoutMs: number;
}): boolean {
  if (at.idleTimeoutMs <= 0) return false;
  return at.now - Math.max(at.lastSeenAt, at.usedHereAt ?? at.lastSeenAt) > at.idleTimeoutMs;
}

interface Use {
  /** This instance's latest use. */
  readonly usedAt: number;
  /** The latest use the store is known to hold (told by this instance, or read from it). */
  readonly storedAt: number;
}

export class LastSeen {
  readonly #store: Pick<Store, 'touchSession' | 'revokeSessionByRef'>;
  readonly #idleTimeoutMs: number;
  readonly #now: () => number;
  readonly #log: { warn(details: object, message: string): void };
  readonly #maxEntries: number;
  // By session reference, least recently used first (a use moves its entry to the end).
  readonly #uses = new Map<string, Use>();
  #failing = false;

  constructor(deps: {
    store: Pick<Store, 'touchSession' | 'revokeSessionByRef'>;
    /** `session.idleTimeout`; 0: off. */
    idleTimeoutMs: number;
    log: { warn(details: object, message: string): void };
    now?: () => number;
    /** Sessions remembered at once; the least recently used is forgotten first (its use is then only the store's). */
    maxEntries?: number;
  }) {
    this.#store = deps.store;
    this.#idleTimeoutMs = deps.idleTimeoutMs;
    this.#log = deps.log;
    this.#now = deps.now ?? (() => Date.now());
    this.#maxEntries = deps.maxEntries ?? 100_000;
  }

  /**
   * Tells of a use of a live session (read from the store or from a cache of it) now: false when it
   * has been idle longer than session.idleTimeout, and is then revoked (the request is signed out,
   * and every instance forgets it).
   */
  async use(session: Session): Promise<boolean> {
    const now = this.#now();
    const here = this.#uses.get(session.ref);
    this.#uses.delete(session.ref);
    const idle = isIdle({
      now,
      lastSeenAt: session.lastSeenAt,
      usedHereAt: here?.usedAt,
      idleTimeoutMs: this.#idleTimeoutMs,
    });
    if (idle) {
      await this.#store.revokeSessionByRef(session.ref).catch((error: unknown) => {
        // Signed out all the same; the next use on any instance judges it idle again.
        this.#log.warn({ err: error, session: session.ref }, 'could not revoke an idle session');
      });
      return false;
    }
    const storedAt = Math.max(here?.storedAt ?? session.lastSeenAt, session.lastSeenAt);
    const due = now - storedAt >= TOUCH_INTERVAL_MS;
    this.#uses.set(session.ref, { usedAt: now, storedAt: due ? now : storedAt });
    if (this.#uses.size > this.#maxEntries) this.#uses.delete(this.#uses.keys().next().value!);
    if (due) this.#touch(session.ref, now);
    return true;
  }

  /** In the background: a request never waits for, nor fails by, a last use not written. */
  #touch(ref: string, at: number): void {
    this.#store.touchSession(ref, at).then(
      () => {
        this.#failing = false;
      },
      (error: unknown) => {
        // Logged once until a write succeeds again: a store outage is not a line per session.
        if (!this.#failing)
          this.#log.warn({ err: error }, 'could not record when sessions were last used; requests go on');
        this.#failing = true;
      },
    );
  }
}
