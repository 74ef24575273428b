// The sample-ratio check: when the canary's share of new visitors is not what `percent` says.
import { describe, expect, it } from "vitest";
import { chiSquare1Sf, erfc, MIN_SAMPLES, sampleRatio } from "../../src/health/sample-ratio";
import { bucketOf, seedOf, thresholdOf } from "../../src/routing/bucket";

describe("chi-square tail (1 degree of freedom)", () => {
  it("matches published critical values", () => {
    // Table values: χ²(1) = 3.841 at p 0.05, 6.635 at 0.01, 10.828 at 0.001.
    expect(chiSquare1Sf(3.841)).toBeCloseTo(0.05, 4);
    expect(chiSquare1Sf(6.635)).toBeCloseTo(0.01, 4);
    expect(chiSquare1Sf(10.828)).toBeCloseTo(0.001, 5);
    expect(chiSquare1Sf(0)).toBe(1);
    expect(erfc(0)).toBeCloseTo(1, 6);
    expect(erfc(-1) + erfc(1)).toBeCloseTo(2, 6);
  });
});

describe("sampleRatio", () => {
  it("flags the brief's example with the operator-facing sentence", () => {
    // 12.4 % of 1,830 new visitors at 5 %.
    const r = sampleRatio(227, 1603, 5);
    expect(r.judged).toBe(true);
    expect(r.mismatch).toBe(true);
    expect(r.p).toBeLessThan(0.001);
    expect(r.detail).toBe(
      "observed canary share 12.4 % of 1,830 new visitors vs 5 % expected: stickiness or routing broken?",
    );
  });

  it("is quiet on ordinary noise", () => {
    // 2 standard deviations off at 10 % of 1,000: p ≈ 0.035, well above 0.001.
    expect(sampleRatio(119, 881, 10).mismatch).toBe(false);
    expect(sampleRatio(500, 500, 50).mismatch).toBe(false);
    expect(sampleRatio(500, 500, 50).detail).toMatch(/consistent/);
  });

  it("does not judge below the minimum sample or when an expected cell is under 5", () => {
    const few = sampleRatio(100, 99, 5);
    expect(few).toMatchObject({ judged: false, mismatch: false, n: MIN_SAMPLES - 1 });
    expect(few.detail).toMatch(/199 of 200 new visitors/);
    // 1 % of 300 expects 3 canary visitors: chi-square is unreliable there, wait for 500.
    const small = sampleRatio(30, 270, 1);
    expect(small).toMatchObject({ judged: false, mismatch: false });
    expect(small.detail).toMatch(/300 of 500 new visitors needed at 1 %/);
  });

  it("at 0 % and 100 % any visitor on the wrong side is a mismatch", () => {
    expect(sampleRatio(0, 300, 0).mismatch).toBe(false);
    expect(sampleRatio(1, 299, 0).mismatch).toBe(true);
    expect(sampleRatio(300, 0, 100).mismatch).toBe(false);
    expect(sampleRatio(299, 1, 100).mismatch).toBe(true);
  });

  it("never flags the real bucketing at any percent (false-alarm check over 20,000 keys)", () => {
    for (const percent of [1, 5, 10, 25, 50, 90]) {
      let canary = 0;
      const n = 20_000;
      const t = thresholdOf(percent);
      for (let i = 0; i < n; i++) if (bucketOf(`visitor-${i}-${percent}`, seedOf("release-x")) < t) canary++;
      const r = sampleRatio(canary, n - canary, percent);
      expect(r.judged).toBe(true);
      expect(r.mismatch, `${percent} %: ${r.detail}`).toBe(false);
    }
  });
});
