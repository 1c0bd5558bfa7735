// Housekeeping: what can no longer be used (expired sessions past their renewal grace, one-time
// codes and sign-in states, OpenID Provider artifacts, old sign-in failures, audit events past
// their retention) is deleted on a
// schedule, so the store stays the size of what is live. Every instance runs it: the first run
// comes at a random point of the interval, so a cluster's instances spread theirs, and deleting
// what another instance deleted already is harmless.
import type { PurgeCounts, PurgeKeep, Store } from './types.ts';

export interface HousekeepingOptions {
  /** Between runs; 0 turns housekeeping off. */
  readonly intervalMs: number;
  /** What to keep past its expiry (see Store.purgeExpired). */
  readonly keep: PurgeKeep;
  /** Told after each run that deleted something, or that failed (the next run tries again). */
  readonly purged: (counts: PurgeCounts) => void;
  readonly failed: (error: unknown) => void;
  readonly random?: () => number;
}

/** Starts the schedule; the returned function stops it. */
export function startHousekeeping(store: Store, options: HousekeepingOptions): () => void {
  if (options.intervalMs <= 0) return () => undefined;
  let timer: NodeJS.Timeout;
  const run = async () => {
    try {
      const counts = await store.purgeExpired(options.keep);
      if (Object.values(counts).some((n) => n > 0)) options.purged(counts);
    } catch (error) {
      options.failed(error);
    }
    timer = setTimeout(run, options.intervalMs).unref();
  };
  timer = setTimeout(run, Math.floor((options.random ?? Math.random)() * options.intervalMs)).unref();
  return () => clearTimeout(timer);
}
