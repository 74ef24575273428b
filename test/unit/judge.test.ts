// The one health judgement (a window's totals and a plan step's totals alike), and how a report's
// batches become the vectors it judges.
import { describe, expect, it } from "vitest";
import { judgeHealth, peopleOf } from "../../src/health/judge";
import { VisitorLedger } from "../../src/health/ledger";
import { evaluateHealth } from "../../src/health/rules";
import { newVisitors, reportVectors, slotCounters, vectorUnder, emptyVector } from "../../src/health/window";
import { rolloutSchema } from "../../src/model/rollout";
import { LATENCY_BUCKETS, type ReportBatch, type SlotCounters } from "../../src/model/protocol";

const rules = rolloutSchema.parse({ rollback: { minRequests: 20 } }).rollback;

function counters(requests: number, errors = 0): SlotCounters {
  const latency = new Array(LATENCY_BUCKETS).fill(0);
  latency[2] = requests;
  return { requests, errors5xx: errors, errorsNetwork: 0, errorsTimeout: 0, failovers: 0, latency };
}

function batch(
  fingerprint: string,
  green: number,
  greenErrors: number,
  blue: number,
  extra: Partial<ReportBatch> = {},
) {
  return {
    fingerprint,
    canary: "green",
    from: 0,
    to: 0,
    slots: { green: counters(green, greenErrors), blue: counters(blue) },
    ...extra,
  } as ReportBatch;
}

/** A ledger in which each request was its own visitor on its own network (green's errors first). */
function crowdLedger(green: number, greenErrors: number, blue: number): VisitorLedger {
  const l = new VisitorLedger({ perVisitorCap: 10, perNetworkCap: 50 });
  for (let i = 0; i < green; i++)
    l.add(0, "green", { visitor: i, network: i, requests: 1, errors: i < greenErrors ? 1 : 0 });
  for (let i = 0; i < blue; i++) l.add(0, "blue", { visitor: 1e6 + i, network: 1e6 + i, requests: 1, errors: 0 });
  return l;
}

describe("judgeHealth", () => {
  it("reads the canary and its stable baseline out of one vector and applies the rules to them", () => {
    const { health } = reportVectors([batch("f", 30, 11, 200)], () => true, "blue");
    const j = judgeHealth(health, "green", rules, 60, peopleOf(crowdLedger(30, 11, 200), "green"));
    expect(j.healthy).toBe(false);
    expect(j.input).toMatchObject({ canary: { requests: 30, errors5xx: 11 }, stable: { requests: 200 }, shadow: null });
    // One network (the heaviest: each network here has one failing visitor) is left out: 10 of 29.
    expect(j.reason).toMatch(/canary 34\.5 % errors \(10\/29 weighted by visitor, heaviest network left out\)/);
    // The same verdict the rules give on the same counters: one judgement, not two.
    expect(j).toMatchObject(evaluateHealth(rules, j.input));
  });

  it("without visitor figures (no ledger) the same counts trip nothing: the quorum is not met", () => {
    const { health } = reportVectors([batch("f", 30, 11, 200)], () => true, "blue");
    const j = judgeHealth(health, "green", rules, 60);
    expect(j.healthy).toBe(true);
    expect(j.verdicts.find((v) => v.rule === "quorum")!.detail).toMatch(
      /no rule can trip before 5 failing visitors on 2 networks/,
    );
    // One of each is said in the singular.
    const ones = rolloutSchema.parse({ rollback: { minRequests: 20, minVisitors: 1, minNetworks: 1 } }).rollback;
    const one = judgeHealth(health, "green", ones, 60);
    expect(one.verdicts.find((v) => v.rule === "quorum")!.detail).toMatch(
      /^canary failures from 0 visitors on 0 networks \(of 0 visitors, 0 networks in the last 60 s\): no rule can trip before 1 failing visitor on 1 network/,
    );
  });

  it("the canary is whichever slot the document says: swapping roles swaps what is judged", () => {
    const { health } = reportVectors([batch("f", 30, 11, 200)], () => true, "blue");
    expect(judgeHealth(health, "blue", rules, 60)).toMatchObject({
      healthy: true,
      input: { canary: { requests: 200 }, stable: { requests: 30 } },
    });
  });

  it("the seconds are the span the counts cover (a plan step's, not the window's)", () => {
    const j = judgeHealth(emptyVector(), "green", rules, 61);
    expect(j.figures.windowSeconds).toBe(61);
    expect(j.verdicts[0].detail).toBe("0 of 20 canary requests in the last 61 s: not judged yet");
  });

  it("shadow counts appear only when something was mirrored", () => {
    const shadow = { mirrored: 40, mismatches: 20, notCompared: 0, errors: 0, latency: counters(40).latency };
    const { health } = reportVectors([batch("f", 0, 0, 100, { shadow })], () => true, "blue");
    const j = judgeHealth(health, "green", rules, 60, peopleOf(crowdLedger(0, 0, 100), "green"));
    expect(j.input.shadow).toMatchObject({ mirrored: 40, mismatches: 20 });
    expect(j.figures.tripped).toEqual(["shadow-mismatch"]);
  });
});

describe("reportVectors", () => {
  it("a batch under a version of the attempt counts fully; any other for stable alone, never for the canary", () => {
    const batches = [
      batch("current", 10, 1, 100, { newVisitors: { green: 2, blue: 8 } }),
      batch("superseded", 40, 40, 7, { newVisitors: { green: 5, blue: 5 } }),
    ];
    const { health, series } = reportVectors(batches, (f) => f === "current", "blue");
    expect(slotCounters(health, "green")).toMatchObject({ requests: 10, errors5xx: 1 });
    expect(slotCounters(health, "blue").requests).toBe(107);
    // New visitors under a superseded version would skew the sample ratio: not counted.
    expect(newVisitors(health)).toEqual({ blue: 8, green: 2 });
    // The chart shows all traffic.
    expect(slotCounters(series, "green").requests).toBe(50);
    expect(slotCounters(series, "blue").requests).toBe(107);
  });

  it("skips entries that are not batches (a report is another isolate's input)", () => {
    const { health } = reportVectors([null as unknown as ReportBatch, batch("f", 3, 0, 0)], () => true, "blue");
    expect(slotCounters(health, "green").requests).toBe(3);
  });
});

describe("vectorUnder", () => {
  it("sums only the batches under exactly that version; null when there were none", () => {
    const v = vectorUnder([batch("a", 3, 0, 1), batch("b", 50, 0, 50), batch("a", 4, 0, 1)], "a")!;
    expect(slotCounters(v, "green").requests).toBe(7);
    expect(vectorUnder([batch("b", 1, 0, 1)], "a")).toBeNull();
  });
});
