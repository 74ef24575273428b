// The aggregation tier's merge (src/telemetry/merge.ts): what the root judges from merged reports
// equals what it judges from the isolates' reports received directly, counters and people alike.
import { describe, expect, it } from "vitest";
import { judgeHealth, peopleOf, type Judgement } from "../../src/health/judge";
import { addBatches, slidingLedger, VisitorLedger, limitsOf } from "../../src/health/ledger";
import { reportVectors } from "../../src/health/window";
import { LATENCY_BUCKETS, type Contributors, type Report, type ReportBatch } from "../../src/model/protocol";
import { rollbackSchema, SLOTS, type Slot } from "../../src/model/rollout";
import { prng } from "./stats";
import { fits, MAX_MERGED_CONTRIBUTORS, mergeAll, mergeReport, newMerge, toReport } from "../../src/telemetry/merge";

const CURRENT = "fp-current";
const OLD = "fp-old";
const rules = rollbackSchema.parse({ minRequests: 5, minVisitors: 2, minNetworks: 2 });

/** The root's judgement after `reports` arrived in the same second, in order (as RolloutController.report does). */
function rootJudges(reports: readonly Report[], canary: Slot = "green"): { j: Judgement; health: number[] } {
  const stable: Slot = canary === "green" ? "blue" : "green";
  const window = slidingLedger(limitsOf(rules), rules.windowSeconds);
  const attempt = new VisitorLedger(limitsOf(rules));
  const sec = 1_000_000;
  let health: number[] | null = null;
  for (const r of reports) {
    const v = reportVectors(r.batches, (f) => f === CURRENT, stable);
    health = health ? health.map((x, i) => x + v.health[i]) : v.health;
    const slotsOf = (b: ReportBatch) => (b.fingerprint === CURRENT ? SLOTS : [stable]);
    addBatches(window, sec, r.batches, slotsOf);
    addBatches(attempt, sec, r.batches, slotsOf);
  }
  const h = health ?? reportVectors([], () => true, stable).health;
  return {
    j: judgeHealth(h, canary, rules, rules.windowSeconds, peopleOf(window, canary, sec), peopleOf(attempt, canary)),
    health: h,
  };
}

/**
 * An isolate's report: visitors from a shared pool (so isolates overlap). "fixed": each visitor
 * always on its own network, two document versions at times; "full": one version, 300 visitors on 3
 * networks (past the ledger's 64 a network); "moving": one version, each tuple on one of 3 networks
 * drawn anew (visitors moving between networks), none of them full.
 */
type Shape = "fixed" | "full" | "moving";
function randomReport(rand: () => number, i: number, shape: Shape = "fixed"): Report {
  const wild = shape !== "fixed";
  const int = (n: number) => Math.floor(rand() * n);
  const batches: ReportBatch[] = [];
  for (const fp of wild || rand() < 0.7 ? [CURRENT] : [OLD, CURRENT]) {
    const b: ReportBatch = { fingerprint: fp, canary: "green", from: 100 + int(3), to: 103 + int(3), slots: {} };
    for (const slot of SLOTS) {
      if (rand() < 0.2) continue;
      const c: Contributors = { v: [], n: [], r: [], e: [], ...(rand() < 0.8 ? { m: [] } : {}) };
      const latency = new Array(LATENCY_BUCKETS).fill(0);
      let requests = 0;
      let errors = 0;
      const seen = new Set<number>();
      const failing = slot === "green" ? rand() * 0.4 : rand() * 0.05;
      for (let k = wild ? int(120) : int(25); k > 0; k--) {
        const v = 1 + int(shape === "full" ? 300 : 60);
        if (seen.has(v)) continue;
        seen.add(v);
        const r = 1 + int(4);
        const e = rand() < failing ? 1 + int(r) : 0;
        c.v.push(v);
        // 60 visitors on 12 networks: never more than the ledger's 64 a network.
        c.n.push(shape === "moving" ? int(3) : shape === "full" ? v % 3 : v % 12);
        c.r.push(r);
        c.e.push(e);
        c.m?.push(int(LATENCY_BUCKETS + 1) - 1);
        requests += r;
        errors += e;
        latency[int(LATENCY_BUCKETS)] += r;
      }
      if (rand() < 0.3) {
        c.ur = 1 + int(5);
        c.ue = int(c.ur + 1);
        requests += c.ur;
        errors += c.ue;
        latency[int(LATENCY_BUCKETS)] += c.ur;
      }
      b.slots[slot] = { requests, errors5xx: errors, errorsNetwork: 0, errorsTimeout: 0, failovers: int(2), latency };
      (b.contributors ??= {})[slot] = c;
      if (rand() < 0.5) (b.newVisitors ??= {})[slot] = int(4);
    }
    if (rand() < 0.3)
      b.shadow = {
        mirrored: 4,
        mismatches: int(3),
        notCompared: 1,
        errors: int(2),
        latency: new Array(LATENCY_BUCKETS).fill(1),
      };
    batches.push(b);
  }
  return { isolate: `iso-${i}`, sentAt: 0, batches, dropped: int(2), ...(rand() < 0.2 ? { mirrorsSkipped: 3 } : {}) };
}

describe("merge", () => {
  it("the same visitor seen by two isolates is one visitor at the root, with both isolates' outcomes", () => {
    const batch = (r: number, e: number): ReportBatch => ({
      fingerprint: CURRENT,
      canary: "green",
      from: 10,
      to: 11,
      slots: {},
      contributors: { green: { v: [7, 8], n: [70, 80], r: [r, 1], e: [e, 0] } },
    });
    const [merged] = mergeAll([
      { isolate: "a", sentAt: 0, batches: [batch(2, 1)], dropped: 1 },
      { isolate: "b", sentAt: 0, batches: [batch(3, 0)], dropped: 2, mirrorsSkipped: 4 },
    ]);
    expect(merged.batches[0].contributors!.green).toEqual({ v: [7, 8], n: [70, 80], r: [5, 2], e: [1, 0] });
    expect(merged).toMatchObject({ reports: 2, dropped: 3, mirrorsSkipped: 4 });
  });

  it("a visitor's slowest answer (m) merges by max, -1 where an isolate sent none; diverted requests add up", () => {
    const batch = (m?: number[]): ReportBatch => ({
      fingerprint: CURRENT,
      canary: "green",
      from: 10,
      to: 11,
      slots: {},
      contributors: { green: { v: [7, 8], n: [70, 80], r: [1, 1], e: [0, 0], ...(m ? { m } : {}) } },
    });
    const [merged] = mergeAll([
      { isolate: "a", sentAt: 0, batches: [batch()], dropped: 0, diverted: 2 },
      { isolate: "b", sentAt: 0, batches: [batch([3, -1])], dropped: 0 },
      { isolate: "c", sentAt: 0, batches: [batch([1, 5])], dropped: 0, diverted: 1 },
    ]);
    expect(merged.batches[0].contributors!.green!.m).toEqual([3, 5]);
    expect(merged.diverted).toBe(3);
  });

  it("a merged report of merged reports counts every isolate's report once", () => {
    const rand = prng(7);
    const reports = Array.from({ length: 9 }, (_, i) => randomReport(rand, i));
    const inner = [mergeAll(reports.slice(0, 4))[0], mergeAll(reports.slice(4))[0]];
    const outer = mergeAll(inner)[0];
    expect(outer.reports).toBe(9);
    expect(outer).toEqual(mergeAll(reports)[0]);
  });

  for (const shape of ["fixed", "full", "moving"] as const)
    it(`property: the root's judgement over isolates → aggregators → root equals isolates → root (${shape})`, () => {
      for (let seed = 1; seed <= 300; seed++) {
        const rand = prng(seed);
        const isolates = Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, i) => randomReport(rand, i, shape));
        // Each isolate reports to one of three aggregators; each forwards its merge; the root gets them in some order.
        const byAggregator: Report[][] = [[], [], []];
        for (const r of isolates) byAggregator[Math.floor(rand() * 3)].push(r);
        if (rand() < 0.5) byAggregator.reverse();
        const forwarded = byAggregator.flatMap((rs) => mergeAll(rs));
        // Direct: the same reports in the order the merges list them (an order they could have arrived in).
        const direct = byAggregator.flat();
        const viaTier = rootJudges(forwarded);
        const viaDirect = rootJudges(direct);
        expect(viaTier.health, `seed ${seed}`).toEqual(viaDirect.health);
        expect(viaTier.j.healthy, `seed ${seed}`).toBe(viaDirect.j.healthy);
        expect(viaTier.j.reason, `seed ${seed}`).toBe(viaDirect.j.reason);
        expect(roundAll(viaTier.j.figures), `seed ${seed}`).toEqual(roundAll(viaDirect.j.figures));
        expect(roundAll(viaTier.j.input), `seed ${seed}`).toEqual(roundAll(viaDirect.j.input));
      }
    });

  it("past the per-batch bound a new part starts: no tuple is folded into the unattributed counts", () => {
    const big = (from: number, n: number): Report => ({
      isolate: "x",
      sentAt: 0,
      dropped: 0,
      batches: [
        {
          fingerprint: CURRENT,
          canary: "green",
          from: 1,
          to: 1,
          slots: {},
          contributors: {
            green: {
              v: Array.from({ length: n }, (_, i) => from + i),
              n: Array.from({ length: n }, (_, i) => from + i),
              r: new Array(n).fill(1),
              e: new Array(n).fill(0),
            },
          },
        },
      ],
    });
    const reports = Array.from({ length: 11 }, (_, i) => big(i * 2000, 2000));
    const m = newMerge(0);
    for (const r of reports.slice(0, 10)) {
      expect(fits(m, r)).toBe(true);
      mergeReport(m, r);
    }
    expect(fits(m, reports[10])).toBe(false);
    // Visitors already listed always fit: only new pairs count against the bound.
    expect(fits(m, reports[3])).toBe(true);
    const parts = mergeAll(reports);
    expect(parts).toHaveLength(2);
    expect(parts.map((p) => p.batches[0].contributors!.green!.v.length)).toEqual([MAX_MERGED_CONTRIBUTORS, 2000]);
    expect(parts.every((p) => p.batches[0].contributors!.green!.ur === undefined)).toBe(true);
    expect(toReport(m, "agg", 5)).toMatchObject({ isolate: "agg", sentAt: 5, reports: 10 });
  });

  it("garbage from one isolate does not poison the others' sums", () => {
    const good = randomReport(prng(3), 0);
    const bad = structuredClone(good);
    const s = bad.batches[0].slots.green ?? bad.batches[0].slots.blue!;
    (s as any).requests = "NaN";
    s.latency[0] = -5;
    const [merged] = mergeAll([good, bad]);
    for (const v of Object.values(merged.batches[0].slots)) {
      expect(Number.isFinite(v!.requests)).toBe(true);
      expect(v!.latency.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    }
  });
});

function roundAll(x: unknown): unknown {
  if (typeof x === "number") return Math.round(x * 1e4) / 1e4;
  if (Array.isArray(x)) return x.map(roundAll);
  if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, roundAll(v)]));
  return x;
}
