// Timing an async operation under concurrency, for the store benches.

/** Runs `op` for `seconds` after a half-second warm-up, with `concurrency` callers; ops/s and latencies (ms). */
export async function measure(op: () => Promise<unknown>, concurrency: number, seconds: number) {
  const warmUntil = performance.now() + 500;
  while (performance.now() < warmUntil) await op();
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { opsPerSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}
