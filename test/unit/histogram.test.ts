import { describe, expect, it } from "vitest";
import { emptyHistogram, latencyBucketOf, percentile } from "../../src/health/histogram";
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS } from "../../src/model/protocol";

function hist(samples: number[]): number[] {
  const h = emptyHistogram();
  for (const ms of samples) h[latencyBucketOf(ms)]++;
  return h;
}

describe("latency histogram", () => {
  it("puts a value in the first bucket whose upper bound it does not exceed", () => {
    expect(latencyBucketOf(0)).toBe(0);
    expect(latencyBucketOf(5)).toBe(0);
    expect(latencyBucketOf(5.1)).toBe(1);
    expect(latencyBucketOf(100)).toBe(LATENCY_BOUNDS_MS.indexOf(100));
    expect(latencyBucketOf(60_000)).toBe(LATENCY_BOUNDS_MS.length - 1);
    expect(latencyBucketOf(90_000)).toBe(LATENCY_BUCKETS - 1);
  });

  it("answers percentiles as the bucket's upper bound, nearest rank", () => {
    const h = hist([...Array(98).fill(20), 450, 1800]);
    expect(percentile(h, 50)).toBe(20);
    expect(percentile(h, 98)).toBe(20);
    expect(percentile(h, 99)).toBe(500);
    expect(percentile(h, 100)).toBe(2000);
  });

  it("has no percentile without data and reports the last finite bound for the open bucket", () => {
    expect(percentile(emptyHistogram(), 99)).toBeNull();
    expect(percentile(hist([120_000]), 50)).toBe(60_000);
  });
});
