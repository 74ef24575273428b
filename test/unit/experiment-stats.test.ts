// The always-valid interval for a difference of two shares (src/health/sequential.ts
// `differenceInterval`), the statistics experiments will report: on simulated arms, looked at
// after every 10 visitors, it must cover the true difference at every look in at least 1 − α of
// runs — the promise a fixed-horizon interval breaks when a reader keeps peeking. Seeded.
import { describe, expect, it } from "vitest";
import { compareShares, differenceInterval } from "../../src/health/sequential";
import { prng } from "./stats";

const ALPHA = 0.05;
const LOOK_EVERY = 10;
const HORIZON = 3000;
const RUNS = 400;

/** Share of runs in which the interval ever missed the true difference, looking after every 10 visitors per arm. */
function everMissed(pa: number, pb: number, seed: number, tau?: number): { missRate: number; finalWidth: number } {
  let missed = 0;
  let width = 0;
  for (let r = 0; r < RUNS; r++) {
    const rnd = prng(seed + r * 7919);
    let xa = 0,
      xb = 0,
      miss = false,
      last = { low: 0, high: 0 };
    for (let n = 1; n <= HORIZON; n++) {
      if (rnd() < pa) xa++;
      if (rnd() < pb) xb++;
      if (n % LOOK_EVERY !== 0) continue;
      const ci = differenceInterval({ n, x: xa }, { n, x: xb }, ALPHA, tau);
      if (!ci.evaluated) continue;
      last = { low: ci.low!, high: ci.high! };
      if (pa - pb < ci.low! || pa - pb > ci.high!) miss = true;
    }
    if (miss) missed++;
    width += last.high - last.low;
  }
  return { missRate: missed / RUNS, finalWidth: width / RUNS };
}

/** What a naive 95 % interval (θ̂ ± 1.96·√V) does under the same peeking: the reason for the above. */
function naiveEverMissed(p: number, seed: number): number {
  let missed = 0;
  for (let r = 0; r < RUNS; r++) {
    const rnd = prng(seed + r * 7919);
    let xa = 0,
      xb = 0;
    for (let n = 1; n <= HORIZON; n++) {
      if (rnd() < p) xa++;
      if (rnd() < p) xb++;
      if (n % LOOK_EVERY !== 0 || n < 20) continue;
      const pa = xa / n,
        pb = xb / n;
      const se = Math.sqrt((pa * (1 - pa)) / n + (pb * (1 - pb)) / n) || 1 / n;
      if (Math.abs(pa - pb) > 1.96 * se) {
        missed++;
        break;
      }
    }
  }
  return missed / RUNS;
}

describe("the always-valid interval for a difference of conversion rates", () => {
  it("equal arms, peeked at every 10 visitors up to 3,000: it excludes 0 in at most α of runs", () => {
    for (const [p, seed] of [
      [0.05, 11],
      [0.2, 23],
    ] as const) {
      const { missRate, finalWidth } = everMissed(p, p, seed);
      console.log(
        `[experiment-stats] equal arms at ${p * 100} %: interval ever excluded the truth in ${(missRate * 100).toFixed(1)} % of ${RUNS} runs (α ${ALPHA * 100} %); final width ±${((finalWidth / 2) * 100).toFixed(2)} points`,
      );
      expect(missRate).toBeLessThanOrEqual(ALPHA);
    }
    // The same peeking with a fixed-horizon 95 % interval: far above 5 %.
    const naive = naiveEverMissed(0.2, 23);
    console.log(
      `[experiment-stats] naive 95 % interval, same peeking: ${(naive * 100).toFixed(1)} % of runs excluded 0`,
    );
    expect(naive).toBeGreaterThan(3 * ALPHA);
  });

  it("unequal arms (10 % vs 13 %): it covers the true lift at every look in ≥ 1 − α of runs, and ends up excluding 0", () => {
    const { missRate, finalWidth } = everMissed(0.13, 0.1, 37, 0.05);
    console.log(
      `[experiment-stats] 13 % vs 10 %: missed the true difference in ${(missRate * 100).toFixed(1)} % of runs; final width ±${((finalWidth / 2) * 100).toFixed(2)} points`,
    );
    expect(missRate).toBeLessThanOrEqual(ALPHA);
    // With 3,000 visitors per arm the interval is narrower than the difference: the lift is found.
    expect(finalWidth / 2).toBeLessThan(0.03);
  });

  it("not enough data yet: no interval before both arms have 20 visitors; it is the inversion of the rollback's test", () => {
    expect(differenceInterval({ n: 19, x: 5 }, { n: 100, x: 5 }, ALPHA)).toMatchObject({ evaluated: false, low: null });
    // Where the interval just excludes 0, the mSPRT on the same counts rejects.
    const a = { n: 400, x: 80 },
      b = { n: 400, x: 40 };
    const ci = differenceInterval(a, b, ALPHA);
    expect(ci.low!).toBeGreaterThan(0);
    expect(compareShares(a, b, ALPHA, 0).worse).toBe(true);
    const c = { n: 400, x: 50 };
    expect(differenceInterval(c, b, ALPHA).low!).toBeLessThan(0);
    expect(compareShares(c, b, ALPHA, 0).worse).toBe(false);
  });
});
