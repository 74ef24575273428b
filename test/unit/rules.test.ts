import { describe, expect, it } from "vitest";
import { evaluateHealth, type HealthInput } from "../../src/health/rules";
import { latencyBucketOf } from "../../src/health/histogram";
import { rolloutSchema } from "../../src/model/rollout";
import { LATENCY_BUCKETS, type ShadowCounters, type SlotCounters } from "../../src/model/protocol";
import { NO_FIGURES, type ArmFigures } from "../../src/health/ledger";
import { errorsOf } from "../../src/health/window";

const rules = (r: unknown = {}) => rolloutSchema.parse({ rollback: r }).rollback;

function slot(
  requests: number,
  errors: number,
  latencyMs = 20,
  kind: "5xx" | "network" | "timeout" = "5xx",
): SlotCounters {
  const latency = new Array(LATENCY_BUCKETS).fill(0);
  latency[latencyBucketOf(latencyMs)] = requests;
  return {
    requests,
    errors5xx: kind === "5xx" ? errors : 0,
    errorsNetwork: kind === "network" ? errors : 0,
    errorsTimeout: kind === "timeout" ? errors : 0,
    failovers: 0,
    latency,
  };
}
/** Figures as if every request came from its own visitor on its own network: the quorum never stands in the way. */
function crowd(c: SlotCounters): ArmFigures {
  const errors = errorsOf(c);
  return {
    ...NO_FIGURES,
    visitors: c.requests,
    networks: c.requests,
    failingVisitors: errors,
    failingNetworks: errors,
    weightedRequests: c.requests,
    weightedErrors: errors,
    sampleVisitors: c.requests,
    sampleFailing: errors,
    slow: slowOf(c.latency),
  };
}
/** The per-visitor latency table when each answer is its own visitor on its own network. */
function slowOf(h: number[]): ArmFigures["slow"] {
  const n = LATENCY_BUCKETS - 1;
  const t = { sample: [] as number[], visitors: [] as number[], networks: [] as number[] };
  const w = { worstSample: [] as number[], worstOf: [] as number[], worstVisitors: [] as number[] };
  for (let k = 0; k < n; k++) {
    let c = 0;
    for (let b = k + 1; b < h.length; b++) c += h[b];
    (t.sample.push(c), t.visitors.push(c), t.networks.push(c));
    (w.worstSample.push(c > 0 ? 1 : 0), w.worstOf.push(1), w.worstVisitors.push(c > 0 ? 1 : 0));
  }
  return { ...t, ...w };
}
// The sequential test has its own tests below; here its sample is empty so only the fixed rules speak.
const input = (canary: SlotCounters, stable: SlotCounters, shadow: ShadowCounters | null = null): HealthInput => ({
  canary,
  stable,
  shadow,
  windowSeconds: 60,
  people: { canary: crowd(canary), stable: crowd(stable) },
  sample: { canary: NO_FIGURES, stable: NO_FIGURES },
});

describe("rollback rules (defaults: 5 %, 50 requests, relative 2× and +2 points)", () => {
  it("does not judge before minRequests canary requests, however bad", () => {
    const h = evaluateHealth(rules(), input(slot(49, 49), slot(1000, 0)));
    expect(h.healthy).toBe(true);
    const v = h.verdicts.find((x) => x.rule === "min-requests")!;
    expect(v.ok).toBe(true);
    expect(v.detail).toContain("49 of 50");
  });

  it("trips on a canary error rate above maxErrorRate when stable is fine", () => {
    const h = evaluateHealth(rules(), input(slot(100, 20), slot(1000, 2)));
    expect(h.healthy).toBe(false);
    expect(h.figures.tripped).toEqual(["error-rate"]);
    expect(h.figures.canary).toEqual({ requests: 100, errors: 20, errorRate: 0.2 });
    expect(h.verdicts.find((v) => v.rule === "error-rate")).toMatchObject({ ok: false });
  });

  it("counts network failures and timeouts as errors", () => {
    expect(evaluateHealth(rules(), input(slot(100, 20, 20, "network"), slot(1000, 0))).healthy).toBe(false);
    expect(evaluateHealth(rules(), input(slot(100, 20, 20, "timeout"), slot(1000, 0))).healthy).toBe(false);
  });

  it("stays healthy at or under the threshold", () => {
    expect(evaluateHealth(rules(), input(slot(100, 5), slot(1000, 0))).healthy).toBe(true);
  });

  it("does not blame the canary for a shared outage (equal rates on both slots)", () => {
    const h = evaluateHealth(rules(), input(slot(500, 50), slot(5000, 500)));
    expect(h.healthy).toBe(true);
    expect(h.verdicts.find((v) => v.rule === "error-rate")!.ok).toBe(false);
    expect(h.verdicts.find((v) => v.rule === "relative-error-rate")).toMatchObject({ ok: true });
  });

  it("equal small error rates trip nothing", () => {
    expect(evaluateHealth(rules({ maxErrorRate: 0.01 }), input(slot(1000, 20), slot(1000, 20))).healthy).toBe(true);
  });

  it("needs both the ratio and the delta to blame the canary", () => {
    // 3× worse but only +1 point: under minDelta 2 points.
    expect(evaluateHealth(rules({ maxErrorRate: 0.01 }), input(slot(1000, 15), slot(1000, 5))).healthy).toBe(true);
    // +5 points but only 1.5×: under maxRatio 2.
    expect(evaluateHealth(rules({ maxErrorRate: 0.01 }), input(slot(1000, 150), slot(1000, 100))).healthy).toBe(true);
    expect(evaluateHealth(rules({ maxErrorRate: 0.01 }), input(slot(1000, 250), slot(1000, 100))).healthy).toBe(false);
  });

  it("judges the canary on its own rate when stable has too few requests to compare", () => {
    const h = evaluateHealth(rules(), input(slot(100, 100), slot(10, 10)));
    expect(h.healthy).toBe(false);
  });

  it("relative: false judges on maxErrorRate alone", () => {
    expect(evaluateHealth(rules({ relative: false }), input(slot(500, 50), slot(5000, 500))).healthy).toBe(false);
  });

  it("rollback: false never trips", () => {
    const h = evaluateHealth(rolloutSchema.parse({ rollback: false }).rollback, input(slot(1000, 1000), slot(1000, 0)));
    expect(h).toMatchObject({ healthy: true, verdicts: [{ rule: "rollback", ok: true }] });
  });

  it("latency: trips when canary p99 exceeds stable's × 3 + 250 ms", () => {
    expect(evaluateHealth(rules(), input(slot(100, 0, 1400), slot(1000, 0, 300))).healthy).toBe(false); // 1500 > 1150
    expect(evaluateHealth(rules(), input(slot(100, 0, 1000), slot(1000, 0, 300))).healthy).toBe(true); // 1000 ≤ 1150
  });

  it("latency: maxMs is an absolute limit even with no stable traffic", () => {
    const h = evaluateHealth(rules({ latency: { maxMs: 800 } }), input(slot(100, 0, 900), slot(0, 0)));
    expect(h.healthy).toBe(false);
    expect(h.figures.tripped).toEqual(["latency"]);
  });

  it("latency: false turns the latency rule off", () => {
    expect(evaluateHealth(rules({ latency: false }), input(slot(100, 0, 9000), slot(1000, 0, 10))).healthy).toBe(true);
  });

  describe("shadow traffic (before any user is on the canary)", () => {
    const shadow = (mirrored: number, mismatches: number, errors = 0, notCompared = 0): ShadowCounters => ({
      mirrored,
      mismatches,
      notCompared,
      errors,
      latency: new Array(LATENCY_BUCKETS).fill(0),
    });

    it("trips on a mismatch share above maxShadowMismatchRate", () => {
      const h = evaluateHealth(rules(), input(slot(0, 0), slot(1000, 0), shadow(100, 30)));
      expect(h.healthy).toBe(false);
      expect(h.figures.tripped).toEqual(["shadow-mismatch"]);
    });

    it("trips on mirrored errors like on canary errors", () => {
      const h = evaluateHealth(rules(), input(slot(0, 0), slot(1000, 0), shadow(100, 0, 40)));
      expect(h.healthy).toBe(false);
      expect(h.figures.tripped).toEqual(["shadow-error-rate"]);
    });

    it("waits for minRequests mirrors and ignores answers that were not compared", () => {
      expect(evaluateHealth(rules(), input(slot(0, 0), slot(1000, 0), shadow(40, 40))).healthy).toBe(true);
      expect(evaluateHealth(rules(), input(slot(0, 0), slot(1000, 0), shadow(100, 10, 0, 60))).healthy).toBe(true); // 10 / 40 compared: not judged
    });
  });
});

describe("the rollback reason", () => {
  it("names only what tripped, with stable's rate for comparison", () => {
    const h = evaluateHealth(rules(), input(slot(100, 20), slot(1000, 2)));
    expect(h.reason).toBe("canary 20.0 % errors (20/100 weighted by visitor) > maxErrorRate 5.0 %, stable 0.2 %");
  });

  it("does not blame errors for a latency rollback during a shared outage", () => {
    const h = evaluateHealth(rules(), input(slot(100, 50, 5000), slot(1000, 500, 20)));
    expect(h.figures.tripped).toEqual(["latency"]);
    expect(h.reason).toMatch(
      /^canary p99 5000 ms \(stable 20 ms\): 100.0 % of canary visitors had an answer over 310 ms/,
    );
  });

  it("is null when healthy", () => {
    expect(evaluateHealth(rules(), input(slot(100, 0), slot(1000, 0))).reason).toBeNull();
  });
});

describe("ledger saturation", () => {
  it("the quorum line says how many requests the full ledger could not attribute", () => {
    const i = input(slot(100, 0), slot(1000, 0));
    i.people!.canary = { ...i.people!.canary, untracked: 42 };
    const h = evaluateHealth(rules(), i);
    expect(h.verdicts.find((v) => v.rule === "quorum")!.detail).toMatch(/ledger full: 42 canary and 0 stable requests/);
    expect(h.figures.untracked).toEqual({ canary: 42, stable: 0 });
  });
});
