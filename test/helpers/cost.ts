/**
 * Median wall time of `n` calls of `f`, in µs, after one warm-up call. For cost figures a test prints as
 * diagnostics (never asserted: timings depend on the machine).
 */
export function medianMicros(f: () => void, n = 15): number {
  f();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    f();
    xs.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return xs.sort((a, b) => a - b)[n >> 1]!;
}
