// Latency histograms over the fixed LATENCY_BOUNDS_MS buckets. Fixed size is the point: a report,
// a window bucket and a merge cost the same whatever the traffic. Percentiles are answered as the
// upper bound of the bucket they fall in (a histogram cannot say more); the open last bucket
// (> 60 s) answers its lower bound, the largest finite value we know.
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS } from "../model/protocol";

export function emptyHistogram(): number[] {
  return new Array<number>(LATENCY_BUCKETS).fill(0);
}

/**
 * Index of the latency bucket `ms` falls in: the first bound it does not exceed. (Not the cohort
 * bucket of a visitor: that is routing/bucket.ts `bucketOf`.)
 */
export function latencyBucketOf(ms: number): number {
  // 24 comparisons at most; a binary search would not pay for itself at this size.
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= LATENCY_BOUNDS_MS[i]) return i;
  return LATENCY_BOUNDS_MS.length;
}

function total(h: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < h.length; i++) t += h[i];
  return t;
}

/**
 * The `p`-th percentile (0–100) in ms, as the upper bound of its bucket; null with no data.
 * Nearest-rank: the smallest bucket holding at least p % of the observations.
 */
export function percentile(h: ArrayLike<number>, p: number): number | null {
  const n = total(h);
  if (n <= 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i];
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(i, LATENCY_BOUNDS_MS.length - 1)];
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}
