// The verdict on simulated populations (test/unit/verdict-sim.ts): how often equal builds are
// rolled back when the judge looks after every 10 visitors (the false-positive rate), how many
// visitors a failing canary needs before it is rolled back, and that a client padding the canary
// does not change the verdict. Seeded: the figures are the same on every run; they are printed
// and quoted in docs/verdict.md (update both if the judge changes).
import { describe, expect, it } from "vitest";
import { simulate, type Scenario, type Summary } from "./verdict-sim";

const ALPHA = 0.01; // rollback.confidence 0.99
const HORIZON = 2000;
const RUNS = 600;
// Seeded and deterministic, but a few seconds each on a busy machine.
const SLOW = 120_000;

function report(name: string, s: Summary) {
  const median = s.medianVisitors === null ? "–" : String(s.medianVisitors);
  console.log(
    `[verdict-sim] ${name}: ${(s.tripRate * 100).toFixed(1)} % of ${s.runs} runs rolled back, median ${median} visitors, first rule ${JSON.stringify(s.byRule)}`,
  );
}

function run(name: string, s: Scenario, runs = RUNS): Summary {
  const out = simulate(s, runs);
  report(name, out);
  return out;
}

describe("false positives: equal builds, judged after every 10 visitors up to 2000", () => {
  it(
    "the sequential test alone stays under α at 1 % and 5 % base error",
    () => {
      // maxErrorRate 1 silences the fixed guard: what is measured is the always-valid test.
      for (const p of [0.01, 0.05]) {
        const s = run(`equal ${p * 100} %, sequential test only`, {
          pStable: p,
          pCanary: p,
          visitors: HORIZON,
          rules: { maxErrorRate: 1 },
        });
        expect(s.tripRate).toBeLessThanOrEqual(ALPHA);
      }
    },
    SLOW,
  );

  it(
    "the whole judge (defaults) stays under α at 1 % base error",
    () => {
      const s = run("equal 1 %, whole judge, defaults", { pStable: 0.01, pCanary: 0.01, visitors: HORIZON });
      expect(s.tripRate).toBeLessThanOrEqual(ALPHA);
    },
    SLOW,
  );

  it(
    "the fixed guard is a threshold, not a test: set maxErrorRate above the baseline",
    () => {
      // Measured, not asserted under α: the figures in docs/verdict.md.
      const atBaseline = run("equal 5 %, whole judge, maxErrorRate 0.05 (= baseline)", {
        pStable: 0.05,
        pCanary: 0.05,
        visitors: HORIZON,
      });
      const above = run("equal 5 %, whole judge, maxErrorRate 0.10", {
        pStable: 0.05,
        pCanary: 0.05,
        visitors: HORIZON,
        rules: { maxErrorRate: 0.1 },
      });
      expect(above.tripRate).toBeLessThan(atBaseline.tripRate);
      expect(above.tripRate).toBeLessThanOrEqual(3 * ALPHA);
    },
    SLOW,
  );

  it(
    "a client sending failing requests to the canary does not make equal builds look different",
    () => {
      const visitor = run(
        "equal 1 %, one visitor sends 3 failing requests every 10 visitors",
        { pStable: 0.01, pCanary: 0.01, visitors: HORIZON, attacker: { kind: "visitor", requests: 3, errors: 3 } },
        300,
      );
      const network = run(
        "equal 1 %, one network mints 20 failing visitors every 10 visitors",
        { pStable: 0.01, pCanary: 0.01, visitors: HORIZON, attacker: { kind: "network", requests: 20, errors: 20 } },
        300,
      );
      expect(visitor.tripRate).toBeLessThanOrEqual(ALPHA);
      expect(network.tripRate).toBeLessThanOrEqual(ALPHA);
    },
    SLOW,
  );
});

describe("detection: stable fails 1 % of requests", () => {
  it(
    "a canary failing 5× or 10× as often is always rolled back, and how soon",
    () => {
      for (const k of [5, 10]) {
        const all = run(
          `canary ${k}× stable, whole judge`,
          { pStable: 0.01, pCanary: 0.01 * k, visitors: HORIZON },
          300,
        );
        const seq = run(
          `canary ${k}× stable, sequential test only`,
          { pStable: 0.01, pCanary: 0.01 * k, visitors: HORIZON, rules: { maxErrorRate: 1 } },
          300,
        );
        expect(all.tripRate).toBe(1);
        expect(seq.tripRate).toBe(1);
      }
    },
    SLOW,
  );

  it(
    "padding the canary with cheap successes from one visitor or one network does not change the verdict",
    () => {
      for (const k of [5, 10]) {
        const base = { pStable: 0.01, pCanary: 0.01 * k, visitors: HORIZON };
        const plain = simulate(base, 300);
        const oneVisitor = run(
          `canary ${k}×, one visitor adds 200 successes every 10 visitors`,
          {
            ...base,
            attacker: { kind: "visitor", requests: 200, errors: 0 },
          },
          300,
        );
        const oneNetwork = run(
          `canary ${k}×, one network adds 200 one-request visitors every 10 visitors`,
          {
            ...base,
            attacker: { kind: "network", requests: 200, errors: 0 },
          },
          300,
        );
        expect(oneVisitor.tripRate).toBe(1);
        expect(oneNetwork.tripRate).toBe(1);
        // The delay is bounded by one network's capped weight: at most a few hundred visitors.
        expect(oneNetwork.medianVisitors!).toBeLessThanOrEqual(plain.medianVisitors! + 300);
      }
    },
    SLOW,
  );
});

describe("small canary shares (the first steps of a plan)", () => {
  // 10,000 visitors: at 5 % that is ~500 on the canary, a plan's first step on a modest site.
  const SMALL = 10_000;
  it(
    "equal builds at 5 % and 10 % canary share, 1 % and 2 % base error: false positives",
    () => {
      for (const canaryShare of [0.05, 0.1])
        for (const p of [0.01, 0.02]) {
          const s = run(
            `small share ${canaryShare * 100} %, equal ${p * 100} %, whole judge, defaults`,
            { pStable: p, pCanary: p, canaryShare, visitors: SMALL, batch: 50 },
            300,
          );
          expect(s.tripRate).toBeLessThanOrEqual(2 * ALPHA);
        }
    },
    SLOW,
  );

  it(
    "a canary failing 5× as often at 5 % and 10 % share: detection",
    () => {
      for (const canaryShare of [0.05, 0.1])
        for (const p of [0.01, 0.02]) {
          const s = run(
            `small share ${canaryShare * 100} %, canary 5× of ${p * 100} %, whole judge`,
            { pStable: p, pCanary: 5 * p, canaryShare, visitors: SMALL, batch: 50 },
            300,
          );
          expect(s.tripRate).toBeGreaterThanOrEqual(0.9);
        }
    },
    SLOW,
  );
});

describe("α holds per sample segment", () => {
  it(
    "a 10-step plan (the sample starts over at every step) can spend up to about 10 α",
    () => {
      // 2,000 visitors per step, equal builds: measured, and bounded by the union bound 10 α.
      const one = run(
        "equal 1 %, whole judge, 1 segment of 2,000",
        { pStable: 0.01, pCanary: 0.01, visitors: 2000 },
        300,
      );
      const ten = run(
        "equal 1 %, whole judge, 10 segments of 2,000 (a 10-step plan)",
        { pStable: 0.01, pCanary: 0.01, visitors: 20_000, segments: 10 },
        300,
      );
      expect(ten.tripRate).toBeGreaterThanOrEqual(one.tripRate);
      expect(ten.tripRate).toBeLessThanOrEqual(10 * ALPHA);
    },
    SLOW,
  );
});
