import { describe, expect, it } from "vitest";
import {
  addBatch,
  emptyVector,
  type CountedParts,
  OFFSET,
  SlidingWindow,
  slotCounters,
  slotStats,
  shadowCounters,
  WIDTH,
  newVisitors,
} from "../../src/health/window";
import { LATENCY_BUCKETS, type ReportBatch } from "../../src/model/protocol";

const ALL: CountedParts = { slots: ["blue", "green"], shadow: true, newVisitors: true };

function batch(
  green: { requests: number; errors5xx?: number; latencyBucket?: number },
  blue = { requests: 0 },
): ReportBatch {
  const lat = (n: number, at = 3) => Array.from({ length: LATENCY_BUCKETS }, (_, i) => (i === at ? n : 0));
  return {
    fingerprint: "f",
    canary: "green",
    from: 0,
    to: 0,
    slots: {
      green: {
        requests: green.requests,
        errors5xx: green.errors5xx ?? 0,
        errorsNetwork: 0,
        errorsTimeout: 0,
        failovers: 0,
        latency: lat(green.requests, green.latencyBucket),
      },
      blue: {
        requests: blue.requests,
        errors5xx: 0,
        errorsNetwork: 0,
        errorsTimeout: 0,
        failovers: 0,
        latency: lat(blue.requests),
      },
    },
    shadow: { mirrored: 2, mismatches: 1, notCompared: 0, errors: 0, latency: lat(2) },
    newVisitors: { green: 1, blue: 3 },
  };
}

describe("counter vectors", () => {
  it("adds a batch's counters at the documented offsets", () => {
    const v = addBatch(emptyVector(), batch({ requests: 10, errors5xx: 2 }, { requests: 7 }), ALL);
    expect(slotCounters(v, "green").requests).toBe(10);
    expect(slotCounters(v, "green").errors5xx).toBe(2);
    expect(slotCounters(v, "blue").requests).toBe(7);
    expect(shadowCounters(v).mismatches).toBe(1);
    expect(newVisitors(v)).toEqual({ blue: 3, green: 1 });
    expect(v.length).toBe(WIDTH);
  });

  it("counts only the slots asked for (stable only for superseded documents)", () => {
    const v = addBatch(emptyVector(), batch({ requests: 10, errors5xx: 2 }, { requests: 7 }), {
      slots: ["blue"],
      shadow: false,
      newVisitors: false,
    });
    expect(slotCounters(v, "green").requests).toBe(0);
    expect(slotCounters(v, "blue").requests).toBe(7);
    expect(shadowCounters(v).mirrored).toBe(0);
  });

  it("ignores NaN, negative and missing fields from a malformed report", () => {
    const b: any = {
      fingerprint: "f",
      canary: "green",
      from: 0,
      to: 0,
      slots: { green: { requests: NaN, errors5xx: -4, latency: [1] } },
    };
    const v = addBatch(emptyVector(), b, ALL);
    expect(v.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    expect(v[OFFSET.green + 5]).toBe(1);
  });

  it("derives error rate and percentiles", () => {
    const s = slotStats(slotCounters(addBatch(emptyVector(), batch({ requests: 20, errors5xx: 5 }), ALL), "green"));
    expect(s.errors).toBe(5);
    expect(s.errorRate).toBe(0.25);
    expect(s.p95).toBe(20);
  });
});

describe("SlidingWindow", () => {
  const one = (n: number) => {
    const v = new Array(WIDTH).fill(0);
    v[0] = n;
    return v;
  };

  it("keeps running totals over the last N seconds and expires older buckets", () => {
    const w = new SlidingWindow(1, 60);
    w.add(1000, one(5));
    w.add(1030, one(7));
    expect(w.totals(1030)[0]).toBe(12);
    expect(w.totals(1059)[0]).toBe(12);
    expect(w.totals(1060)[0]).toBe(7); // 1000 left the window [1001, 1060]
    expect(w.totals(1090)[0]).toBe(0);
  });

  it("adds late data to an earlier bucket still in the window, drops data already out of it", () => {
    const w = new SlidingWindow(1, 10);
    w.add(100, one(1));
    expect(w.add(95, one(2))).not.toBeNull();
    expect(w.add(90, one(4))).toBeNull();
    expect(w.totals(100)[0]).toBe(3);
    expect(w.totals(105)[0]).toBe(1);
  });

  it("survives a long silence: everything expires, nothing goes negative", () => {
    const w = new SlidingWindow(1, 60);
    for (let t = 0; t < 120; t++) w.add(t, one(1));
    expect(w.totals(119)[0]).toBe(60);
    expect(w.totals(1_000_000)[0]).toBe(0);
    w.add(1_000_000, one(3));
    expect(w.totals(1_000_000)[0]).toBe(3);
  });

  it("matches a brute-force recount under random traffic", () => {
    const w = new SlidingWindow(1, 30);
    const events: [number, number][] = [];
    let t = 0;
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      t += Math.floor(rnd() * 3);
      const n = 1 + Math.floor(rnd() * 5);
      w.add(t, one(n));
      events.push([t, n]);
      const expected = events.filter(([et]) => et > t - 30).reduce((s, [, n]) => s + n, 0);
      expect(w.totals(t)[0]).toBe(expected);
    }
  });

  it("rebuilds from its stored rows to the same totals", () => {
    const w = new SlidingWindow(1, 60);
    for (let t = 500; t < 540; t += 3) w.add(t, one(t - 499));
    const copy = SlidingWindow.fromRows(1, 60, JSON.parse(JSON.stringify(w.rows())), 545);
    expect(copy.totals(545)).toEqual(w.totals(545).slice());
    expect(copy.totals(590)[0]).toBe(w.totals(590)[0]);
  });

  it("gives every bin of a coarser window for charts, empty ones included", () => {
    const w = new SlidingWindow(10, 6);
    w.add(1003, one(2));
    w.add(1041, one(3));
    const bins = w.bins(1045);
    expect(bins.map((b) => b.t)).toEqual([990, 1000, 1010, 1020, 1030, 1040]);
    expect(bins.map((b) => b.v[0])).toEqual([0, 2, 0, 0, 0, 3]);
  });

  it("folds any number of reports in one second into one stored row", () => {
    const w = new SlidingWindow(1, 3600);
    for (let i = 0; i < 10_000; i++) w.add(5000, one(1));
    expect(w.totals(5000)[0]).toBe(10_000);
    expect(w.rows()).toHaveLength(1);
  });
});
