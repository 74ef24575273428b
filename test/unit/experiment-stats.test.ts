// The always-valid interval for a difference of two shares (src/health/sequential.ts
// `differenceInterval`), the statistics experiments will report: on simulated arms, looked at
// after every 10 visitors, it must cover the true difference at every look in at least 1 − α of
// runs — the promise a fixed-horizon interval breaks when a reader keeps peeking. Seeded.
import { describe, expect, it } from "vitest";
import { compareShares, differenceInterval } from "../../src/health/sequential";
import { EXPERIMENT_TAU, goalResult, MIN_VISITORS } from "../../src/experiments/result";
import { Experiment, HISTORY_POINTS } from "../../src/experiments/experiment";
import { goalBatch } from "./goal-batch";
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

describe("an experiment's result, as the status shows it", () => {
  it("at the experiments' τ (tuned to a few points): equal arms exclude 0 in at most α of runs, and 10 % vs 13 % is found sooner than at τ = 0.1", () => {
    const equal = everMissed(0.1, 0.1, 51, EXPERIMENT_TAU);
    const lift = everMissed(0.13, 0.1, 37, EXPERIMENT_TAU);
    const wide = everMissed(0.13, 0.1, 37);
    console.log(
      `[experiment-stats] τ ${EXPERIMENT_TAU}: equal arms at 10 % missed in ${(equal.missRate * 100).toFixed(1)} % of runs; 13 % vs 10 % final width ±${((lift.finalWidth / 2) * 100).toFixed(2)} points (τ 0.1: ±${((wide.finalWidth / 2) * 100).toFixed(2)})`,
    );
    expect(equal.missRate).toBeLessThanOrEqual(ALPHA);
    expect(lift.missRate).toBeLessThanOrEqual(ALPHA);
    expect(lift.finalWidth).toBeLessThan(wide.finalWidth);
  });

  it("says collecting, inconclusive, better or worse, with the lift relative to control", () => {
    expect(goalResult("g", { n: MIN_VISITORS - 1, x: 10 }, { n: 500, x: 90 })).toMatchObject({
      state: "collecting",
      interval: null,
    });
    const better = goalResult("g", { n: 4000, x: 400 }, { n: 4000, x: 560 });
    expect(better.state).toBe("better");
    expect(better.difference).toBeCloseTo(0.04, 9);
    expect(better.lift).toBeCloseTo(0.4, 9);
    expect(better.interval!.low).toBeGreaterThan(0);
    expect(better.interval!.low).toBeLessThan(0.04);
    expect(better.interval!.high).toBeGreaterThan(0.04);
    expect(better.liftInterval!.low).toBeCloseTo(better.interval!.low / 0.1, 9);
    expect(goalResult("g", { n: 4000, x: 560 }, { n: 4000, x: 400 }).state).toBe("worse");
    expect(goalResult("g", { n: 400, x: 40 }, { n: 400, x: 44 }).state).toBe("inconclusive");
    // No conversions in control: no relative lift (it would divide by zero), the difference stands.
    expect(goalResult("g", { n: 400, x: 0 }, { n: 400, x: 4 })).toMatchObject({ lift: null, liftInterval: null });
  });
});

describe("small arms and rare conversions (a plan's first steps)", () => {
  /** Share of runs in which goalResult's interval ever excluded the true difference, looking every 20 visitors. */
  function everMissedAt(share: number, rate: number, visitors: number, seed: number, runs = 200): number {
    let missed = 0;
    for (let r = 0; r < runs; r++) {
      const rnd = prng(seed + r * 104729);
      const c = { n: 0, x: 0 },
        t = { n: 0, x: 0 };
      for (let v = 1; v <= visitors; v++) {
        const arm = rnd() < share ? t : c;
        arm.n++;
        if (rnd() < rate) arm.x++;
        if (v % 20 !== 0) continue;
        const g = goalResult("g", c, t);
        if (g.interval && (g.interval.low > 0 || g.interval.high < 0)) {
          missed++;
          break;
        }
      }
    }
    return missed / runs;
  }

  it("equal arms with a 5 % canary converting 2 %: the interval keeps to α once the small arm expects 10 conversions", () => {
    const miss = everMissedAt(0.05, 0.02, 40_000, 61);
    console.log(
      `[experiment-stats] 5 % canary, 2 % conversion, 40,000 visitors: ever excluded the truth in ${(miss * 100).toFixed(1)} % of 200 runs`,
    );
    // Without the floor on expected conversions this was 12–15 %.
    expect(miss).toBeLessThanOrEqual(ALPHA + 0.02);
  });
});

describe("an experiment over time", () => {
  const batch = (ids: number[], slot: "blue" | "green", converted: boolean) =>
    goalBatch(slot, { v: ids, g: ids.map(() => (converted ? 1 : 0)) }, ["buy"]);
  const labels = {
    subject: "rollout" as const,
    key: null,
    control: "blue" as const,
    treatment: "green" as const,
    names: { control: "blue", treatment: "green" },
  };

  it("a change of percent starts a new sample; the ended one stays readable as previous", () => {
    let e = new Experiment(1000, 10);
    e.add(1001, batch([1, 2, 3], "green", true), ["blue", "green"]);
    e = e.next(1100, 50);
    e.add(1101, batch([4], "green", false), ["blue", "green"]);
    const s = e.status(labels, ["buy"], true);
    expect(s.percent).toBe(50);
    expect(s.result.rawVisitors.treatment).toBe(1);
    expect(s.previous).toMatchObject({ percent: 10, since: new Date(1_000_000).toISOString() });
    expect(s.previous!.result.goals[0].treatment.conversions).toBe(3);
  });

  it("a goal added to the declared ones starts a new sample; the same percent and goals go on", () => {
    let e = new Experiment(1000, null).continuedAt(1000, 50, ["buy"]);
    e.add(1001, batch([1, 2], "green", true), ["blue", "green"]);
    expect(e.continuedAt(1002, 50, ["buy"])).toBe(e);
    // A goal removed changes nothing; one added could not have been reached by those seen before.
    expect(e.continuedAt(1002, 50, [])).toBe(e);
    const next = e.continuedAt(1003, 50, ["buy", "signup"]);
    expect(next).not.toBe(e);
    const s = next.status(labels, ["buy", "signup"], true);
    expect(s.result.rawVisitors.treatment).toBe(0);
    expect(s.previous?.result.rawVisitors.treatment).toBe(2);
    // A sample that counted nothing is simply replaced, keeping the one before.
    e = next.continuedAt(1004, 25, ["buy", "signup"]);
    expect(e.status(labels, ["buy"], true).previous?.percent).toBe(50);
  });

  it("keeps a bounded history for the chart, however long it runs", () => {
    const e = new Experiment(0, 50);
    for (let t = 0; t < 100_000; t += 5)
      e.add(t, batch([t], t % 10 ? "blue" : "green", t % 15 === 0), ["blue", "green"]);
    const h = e.status(labels, ["buy"], true).history;
    expect(h.length).toBeLessThanOrEqual(HISTORY_POINTS);
    expect(h.length).toBeGreaterThan(HISTORY_POINTS / 2);
    // Spread over the whole run, oldest first, each point with the goal's difference then.
    expect(Date.parse(h[0].t)).toBeLessThan(20_000_000);
    expect(Date.parse(h[h.length - 1].t)).toBeGreaterThan(90_000_000);
    expect(h.every((p) => typeof p.goals.buy.difference === "number")).toBe(true);
  });
});
