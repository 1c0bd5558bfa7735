// Shared by the property tests in test/fuzz. Runs are bounded so `npm test` stays fast, and draw new
// inputs every time (no fixed seed): a failure prints its seed and path, and fast-check shrinks it
// to a small counterexample. Locally:
//   FUZZ_RUNS=20000 node_modules/.bin/node --test test/fuzz/       more cases per property
//   FUZZ_SEED=… FUZZ_PATH=… node_modules/.bin/node --test test/fuzz/x.test.ts   replay a failure
import fc from 'fast-check';

/**
 * fast-check parameters for a property of `runs` cases by default. FUZZ_RUNS=N gives every
 * property about N cases; one whose case tries `cost` inputs (every byte of a token, say) gets N/cost.
 */
export function params(runs: number, cost = 1): { numRuns: number; seed?: number; path?: string } {
  const wanted = Number(process.env.FUZZ_RUNS);
  const seed = Number(process.env.FUZZ_SEED);
  return {
    numRuns: wanted > 0 ? Math.max(1, Math.round(wanted / cost)) : runs,
    ...(Number.isInteger(seed) && process.env.FUZZ_SEED
      ? { seed, ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}) }
      : {}),
  };
}

/** Strings glued from `pieces` (and a little noise): the tricks a checker must see through, combined. */
export function soup(pieces: readonly string[], maxPieces = 8): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...pieces) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
  );
  return fc.array(piece, { maxLength: maxPieces }).map((parts) => parts.join(''));
}

/** Any string: ASCII-heavy, full Unicode, and lone surrogates (which JavaScript strings may hold). */
export const anyString = (maxLength = 40): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength }),
  );

/** Counts how often a property took a branch, so a test can insist the interesting case was reached. */
export class Tally {
  readonly counts = new Map<string, number>();
  add(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : value instanceof Uint8Array ? value : JSON.stringify(value)).toString(
    'base64url',
  );
