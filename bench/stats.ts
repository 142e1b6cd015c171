// Order statistics shared by the benchmark suites (medians of repetitions, latency quantiles).

/** The q-quantile (0..1) of xs by the nearest-rank method; NaN for no samples. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}

/** The median of xs (the lower one of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}
