import { describe, expect, it } from "vitest";
import { BUCKETS, bucketOf, saltOf, seedOf, thresholdOf } from "../../src/routing/bucket";
import { chiSquare, chiSquareCritical, keysOf } from "./stats";

const N = 100_000;
const SHAPES = ["sequential", "email", "uuid"] as const;
const PERCENTS = [0.5, 1, 5, 25, 50, 90];

describe("bucketing distribution (100,000 keys per shape, chi-square at p = 0.001)", () => {
  for (const shape of SHAPES) {
    const keys = keysOf(shape, N);
    for (const salt of ["", "v2.4.0"]) {
      const seed = seedOf(salt);
      const buckets = keys.map((k) => bucketOf(k, seed));

      it(`${shape} keys, salt "${salt}": the canary share matches percent at ${PERCENTS.join(", ")} %`, () => {
        for (const p of PERCENTS) {
          const t = thresholdOf(p);
          const canary = buckets.filter((b) => b < t).length;
          const e = (N * p) / 100;
          const x = chiSquare([canary, N - canary], [e, N - e]);
          expect(x, `percent ${p}: ${canary} of ${N} on the canary`).toBeLessThan(chiSquareCritical(1));
        }
      });

      it(`${shape} keys, salt "${salt}": buckets are uniform over 100 coarse cells and all 10,000`, () => {
        const coarse = new Array(100).fill(0);
        const fine = new Array(BUCKETS).fill(0);
        for (const b of buckets) (coarse[Math.floor(b / 100)]++, fine[b]++);
        expect(chiSquare(coarse, new Array(100).fill(N / 100))).toBeLessThan(chiSquareCritical(99));
        expect(chiSquare(fine, new Array(BUCKETS).fill(N / BUCKETS))).toBeLessThan(chiSquareCritical(BUCKETS - 1));
      });
    }
  }

  it("a skewed hash would fail the same test (the test can fail)", () => {
    const keys = keysOf("sequential", N);
    // A naive "sum of char codes" bucketing is what the chi-square must reject.
    const naive = keys.map((k) => [...k].reduce((a, c) => a + c.charCodeAt(0), 0) % BUCKETS);
    const coarse = new Array(100).fill(0);
    for (const b of naive) coarse[Math.floor(b / 100)]++;
    expect(chiSquare(coarse, new Array(100).fill(N / 100))).toBeGreaterThan(chiSquareCritical(99));
  });
});

describe("thresholds", () => {
  it("is round(percent × 100), exact at 0 and 100, at 0.01 % resolution", () => {
    expect(thresholdOf(0)).toBe(0);
    expect(thresholdOf(100)).toBe(BUCKETS);
    expect(thresholdOf(0.01)).toBe(1);
    expect(thresholdOf(12.34)).toBe(1234);
    expect(thresholdOf(33.335)).toBe(3334);
  });

  it("percent 0 sends nobody and 100 sends everybody", () => {
    const seed = seedOf("r1");
    for (const k of keysOf("uuid", 20_000)) {
      const b = bucketOf(k, seed);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(BUCKETS);
      expect(b < thresholdOf(0)).toBe(false);
      expect(b < thresholdOf(100)).toBe(true);
    }
  });

  it("is monotonic: raising percent within a release never moves a canary visitor back to stable", () => {
    const seed = seedOf("v3");
    const steps = [0, 1, 5, 10, 25, 50, 75, 100];
    for (const k of keysOf("email", 20_000)) {
      const b = bucketOf(k, seed);
      let wasCanary = false;
      for (const p of steps) {
        const now = b < thresholdOf(p);
        if (wasCanary) expect(now).toBe(true);
        wasCanary = now;
      }
    }
  });
});

describe("salt", () => {
  it("is salt, else release, else empty", () => {
    expect(saltOf({ salt: "s", release: "r" })).toBe("s");
    expect(saltOf({ release: "r" })).toBe("r");
    expect(saltOf({})).toBe("");
  });

  it("different salts sample independent populations", () => {
    const keys = keysOf("uuid", N);
    const a = seedOf("v1.0.0"),
      b = seedOf("v1.1.0");
    const t = thresholdOf(10);
    let both = 0,
      inA = 0;
    for (const k of keys) {
      const ca = bucketOf(k, a) < t;
      if (ca) inA++;
      if (ca && bucketOf(k, b) < t) both++;
    }
    // Independent draws: 10 % of the 10 % (≈ 1,000), not the same 10,000 again.
    expect(inA).toBeGreaterThan(9_500);
    expect(both).toBeGreaterThan(800);
    expect(both).toBeLessThan(1_200);
  });
});
